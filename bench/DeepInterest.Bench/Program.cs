namespace DeepInterest.Bench;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.Error.WriteLine("bench: workloads are being built.");
        return 1;
    }
}
