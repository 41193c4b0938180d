using System.CommandLine;
using DeepInterest.Cli.Commands;

namespace DeepInterest.Cli;

/// <summary>
/// The deepinterest command line. Every failure is one line on stderr and a non-zero exit code;
/// <c>--verbose</c> adds the stack trace.
/// </summary>
public static class Program
{
    public static readonly Option<bool> Verbose = new("--verbose") { Description = "Show stack traces on errors", Recursive = true };

    public static int Main(string[] args)
    {
        var root = new RootCommand("DeepInterest: DIN, DIEN and DSIN click-through-rate models in .NET.");
        root.Options.Add(Verbose);
        var demo = DemoCommand.Create();
        root.Subcommands.Add(demo);
        root.Subcommands.Add(PrepareCommand.Create());
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(ScoreCommands.Evaluate());
        root.Subcommands.Add(ScoreCommands.Predict());
        root.Subcommands.Add(ExplainCommand.Create());
        root.Subcommands.Add(ServeCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.SetAction(parse => demo.Parse([]).Invoke());
        bool verbose = args.Contains("--verbose");
        try
        {
            return root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"error: {Errors.Describe(e)}");
            if (verbose) Console.Error.WriteLine(e);
            return 1;
        }
    }
}

/// <summary>Turns exceptions into the one line a user sees.</summary>
public static class Errors
{
    public static string Describe(Exception e)
    {
        while (e is AggregateException { InnerException: { } inner }) e = inner;
        if (e is System.Reflection.TargetInvocationException { InnerException: { } ti }) e = ti;
        var msg = e.Message.Split('\n')[0].Trim();
        return e is ArgumentException or InvalidOperationException or IOException or Config.ConfigException
            or Data.Schema.SchemaException or Engine.IO.SafeTensorsException or Engine.Modules.StateDictException
            or Models.Training.TrainingDivergedException or Data.Readers.DataFormatException or Models.ModelFormatException
            or Models.Training.CheckpointException
            ? msg : $"{e.GetType().Name}: {msg}";
    }
}
