using System.CommandLine;

namespace DeepInterest.Cli.Commands;

/// <summary><c>bench</c>: throughput workloads (see bench/DeepInterest.Bench and docs/performance.md).</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var cmd = new Command("bench", "Run the throughput workloads (forwards to bench/DeepInterest.Bench)");
        cmd.SetAction(_ =>
        {
            Console.Error.WriteLine("error: run the benchmarks with: dotnet run --project bench/DeepInterest.Bench -c Release -- <workload>");
            return 2;
        });
        return cmd;
    }
}
