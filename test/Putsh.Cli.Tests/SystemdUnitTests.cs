using System.Text.RegularExpressions;
using Putsh.Connector;
using Putsh.Router;

namespace Putsh.Cli.Tests;

/// <summary>
/// deploy/systemd's units, checked by systemd's own tools where they are installed (<c>systemd-analyze verify</c>
/// for the syntax and every directive, <c>systemd-analyze security</c> for the hardening), and against the options'
/// defaults for what must agree with the code.
/// </summary>
public sealed partial class SystemdUnitTests
{
    private static readonly string[] Units = ["putsh-router.service", "putsh-connector@.service"];

    [SkippableFact]
    public async Task The_units_pass_systemd_analyze_verify_with_nothing_to_say()
    {
        Skip.If(SystemdAnalyze() is null, "systemd-analyze is not installed here");
        var dir = InstantiatedUnits();
        var (code, output) = await ShortProcess.RunAsync(SystemdAnalyze()!, ["verify", .. Directory.GetFiles(dir)]);
        Assert.True(code == 0 && output.Length == 0, $"systemd-analyze verify exited {code}:\n{output}");
    }

    [SkippableFact]
    public async Task The_units_are_hardened_to_an_exposure_of_at_most_2_out_of_10()
    {
        Skip.If(SystemdAnalyze() is null, "systemd-analyze is not installed here");
        foreach (var unit in Directory.GetFiles(InstantiatedUnits()))
        {
            // The threshold is in tenths: 20 is an exposure of 2.0 ("OK"; an unhardened service scores 9.6).
            var (code, output) = await ShortProcess.RunAsync(SystemdAnalyze()!, ["security", "--offline=yes", "--threshold=20", unit]);
            Assert.True(code == 0, $"{Path.GetFileName(unit)} is exposed above 2.0:\n{output}");
            Assert.Contains("Overall exposure level", output);
        }
    }

    [Fact]
    public void The_units_run_without_privileges_and_wait_longer_than_the_processes_drain()
    {
        var router = File.ReadAllText(Path.Combine(UnitsDirectory(), "putsh-router.service"));
        var connector = File.ReadAllText(Path.Combine(UnitsDirectory(), "putsh-connector@.service"));
        foreach (var unit in new[] { router, connector })
        {
            Assert.Contains("\nDynamicUser=yes\n", unit);
            Assert.Contains("\nNoNewPrivileges=yes\n", unit);
            Assert.Contains("\nProtectSystem=strict\n", unit);
            Assert.Contains("\nCapabilityBoundingSet=\n", unit);
            Assert.Contains("\nKillSignal=SIGTERM\n", unit);
        }

        Assert.Contains("\nExecStart=/usr/local/bin/putsh router --config /etc/putsh/router.json\n", router);
        Assert.Contains("\nExecStart=/usr/local/bin/putsh connector --config /etc/putsh/connector-%i.json\n", connector);

        // systemd kills what is still running at TimeoutStopSec: it must outlast the drain with the default options.
        var routerDefaults = new RouterOptions();
        Assert.True(StopTimeout(router) > routerDefaults.DrainDelay + routerDefaults.ShutdownTimeout, "the router unit stops before the router's drain ends");
        Assert.True(StopTimeout(connector) > new ConnectorOptions().ShutdownTimeout, "the connector unit stops before the connector's drain ends");
    }

    private static TimeSpan StopTimeout(string unit) => TimeSpan.FromSeconds(int.Parse(StopTimeoutLine().Match(unit).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));

    [GeneratedRegex(@"\nTimeoutStopSec=(\d+)s\n")]
    private static partial Regex StopTimeoutLine();

    /// <summary>The units with an existing binary in ExecStart (verify checks it exists) and the template instantiated.</summary>
    private static string InstantiatedUnits()
    {
        var dir = Directory.CreateTempSubdirectory("putsh-units-").FullName;
        var binary = Environment.ProcessPath!;
        foreach (var unit in Units)
        {
            var text = File.ReadAllText(Path.Combine(UnitsDirectory(), unit)).Replace("/usr/local/bin/putsh", binary, StringComparison.Ordinal);
            File.WriteAllText(Path.Combine(dir, unit.Replace("@.", "@test.", StringComparison.Ordinal)), text);
        }

        return dir;
    }

    private static string UnitsDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var units = Path.Combine(dir.FullName, "deploy", "systemd");
            if (Directory.Exists(units))
            {
                return units;
            }
        }

        throw new InvalidOperationException("deploy/systemd not found above " + AppContext.BaseDirectory);
    }

    private static string? SystemdAnalyze() =>
        new[] { "/usr/bin/systemd-analyze", "/bin/systemd-analyze" }.FirstOrDefault(File.Exists);
}
