namespace DeepInterest.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.Error.WriteLine("deepinterest: the command-line tool is being built; see README.md.");
        return 1;
    }
}
