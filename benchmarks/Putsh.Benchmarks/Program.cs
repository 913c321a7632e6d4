using BenchmarkDotNet.Running;

namespace Putsh.Benchmarks;

/// <summary>
/// Runs the benchmarks picked by the command line, for example
/// <c>dotnet run -c Release --project benchmarks/Putsh.Benchmarks -- --filter '*V3*' --job short</c>.
/// </summary>
public static class Program
{
    public static async Task Main(string[] args)
    {
        if (args is ["balancing", ..])
        {
            // Not a BenchmarkDotNet benchmark: a load experiment through a real router and connectors (BalancingExperiment).
            await BalancingExperiment.RunAsync(args);
            return;
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
