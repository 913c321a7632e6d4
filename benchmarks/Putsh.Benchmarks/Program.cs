using BenchmarkDotNet.Running;

namespace Putsh.Benchmarks;

/// <summary>
/// Runs the benchmarks picked by the command line, for example
/// <c>dotnet run -c Release --project benchmarks/Putsh.Benchmarks -- --filter '*V3*' --job short</c>.
/// </summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
