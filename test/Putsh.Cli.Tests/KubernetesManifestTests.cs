using System.Globalization;
using Putsh.Connector;
using YamlDotNet.RepresentationModel;

namespace Putsh.Cli.Tests;

/// <summary>
/// deploy/kubernetes, read as the cluster would (no cluster runs here): the putsh containers' command lines are ones
/// the executable accepts, the probes, ports and Services agree with them, and every grace period outlasts the
/// drain it has to wait for. <c>kubectl kustomize</c> renders the whole where kubectl is installed.
/// </summary>
public sealed class KubernetesManifestTests
{
    [Fact]
    public void The_manifests_agree_with_the_executable_and_outlast_every_drain()
    {
        var objects = Load("router.yaml").Concat(Load("example-app.yaml")).ToList();
        var router = Deployment(objects, "putsh-router");
        var app = Deployment(objects, "hello");

        // Every putsh command line parses, with no error, as the executable would parse it.
        var routerArgs = Args(Container(router, "router"));
        var connectorArgs = Args(Container(app, "connector"));
        foreach (var args in new[] { routerArgs, connectorArgs })
        {
            var parse = Program.CreateRoot().Parse(args);
            Assert.True(parse.Errors.Count == 0, $"putsh {string.Join(' ', args)}: {(parse.Errors.Count > 0 ? parse.Errors[0].Message : "")}");
        }

        // The router's probes are the admin listener's health endpoints, on the port it listens on.
        var admin = new Uri(Value(routerArgs, "--admin"));
        var routerContainer = Container(router, "router");
        Assert.Equal("/health/ready", Scalar(routerContainer, "readinessProbe", "httpGet", "path"));
        Assert.Equal("/health/live", Scalar(routerContainer, "livenessProbe", "httpGet", "path"));
        Assert.Equal(admin.Port, Port(routerContainer, Scalar(routerContainer, "readinessProbe", "httpGet", "port")));

        // Connectors dial the headless Service, which selects the routers and targets their --register port.
        var registration = objects.Single(o => Scalar(o, "kind") == "Service" && Scalar(o, "metadata", "name") == "putsh-router-registration");
        Assert.Equal("None", Scalar(registration, "spec", "clusterIP"));
        var dialled = new Uri(Value(connectorArgs, "--routers"));
        Assert.Equal("putsh-router-registration", dialled.Host);
        var servicePort = (YamlMappingNode)((YamlSequenceNode)registration["spec"]["ports"]).Children.Single();
        Assert.Equal(dialled.Port.ToString(CultureInfo.InvariantCulture), Scalar(servicePort, "port"));
        Assert.Equal(new Uri(Value(routerArgs, "--register")).Port, Port(routerContainer, Scalar(servicePort, "targetPort")));
        Assert.Equal(
            Scalar(router, "spec", "template", "metadata", "labels", "app.kubernetes.io/name"),
            Scalar(registration, "spec", "selector", "app.kubernetes.io/name"));

        // Grace periods: the router's covers its preStop and --shutdown-timeout; the app pod's the connector's drain.
        var routerGrace = int.Parse(Scalar(router, "spec", "template", "spec", "terminationGracePeriodSeconds"), CultureInfo.InvariantCulture);
        var preStop = int.Parse(Scalar(routerContainer, "lifecycle", "preStop", "sleep", "seconds"), CultureInfo.InvariantCulture);
        Assert.True(routerGrace > preStop + Seconds(Value(routerArgs, "--shutdown-timeout")), "the router pod is killed before its drain ends");
        var appGrace = int.Parse(Scalar(app, "spec", "template", "spec", "terminationGracePeriodSeconds"), CultureInfo.InvariantCulture);
        var connectorDrain = connectorArgs.Any(a => a.StartsWith("--shutdown-timeout", StringComparison.Ordinal))
            ? Seconds(Value(connectorArgs, "--shutdown-timeout"))
            : new ConnectorOptions().ShutdownTimeout.TotalSeconds;
        Assert.True(appGrace > connectorDrain, "the app pod is killed before its connector's drain ends");

        // Unprivileged, and a disruption budget for each.
        foreach (var container in new[] { routerContainer, Container(app, "connector") })
        {
            Assert.Equal("false", Scalar(container, "securityContext", "allowPrivilegeEscalation"));
            Assert.Equal("ALL", ((YamlSequenceNode)container["securityContext"]["capabilities"]["drop"]).Children.Single().ToString());
        }

        Assert.Equal(2, objects.Count(o => Scalar(o, "kind") == "PodDisruptionBudget"));
    }

    [SkippableFact]
    public async Task Kustomize_renders_the_folder_with_the_image_replaced()
    {
        var kubectl = new[] { "/usr/bin/kubectl", "/usr/local/bin/kubectl" }.FirstOrDefault(File.Exists);
        Skip.If(kubectl is null, "kubectl is not installed here");
        var (code, rendered, stderr) = await ShortProcess.RunAsync(kubectl!, ["kustomize", Folder()]);
        Assert.True(code == 0, stderr);
        Assert.Contains("image: registry.example/putsh:latest", rendered, StringComparison.Ordinal);
        Assert.DoesNotContain("image: putsh\n", rendered, StringComparison.Ordinal);
        Assert.Contains("namespace: putsh", rendered, StringComparison.Ordinal);
    }

    private static List<YamlMappingNode> Load(string file)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(Path.Combine(Folder(), file));
        stream.Load(reader);
        return [.. stream.Documents.Select(d => (YamlMappingNode)d.RootNode)];
    }

    private static YamlMappingNode Deployment(List<YamlMappingNode> objects, string name) =>
        objects.Single(o => Scalar(o, "kind") == "Deployment" && Scalar(o, "metadata", "name") == name);

    private static YamlMappingNode Container(YamlMappingNode deployment, string name) =>
        ((YamlSequenceNode)deployment["spec"]["template"]["spec"]["containers"]).Children.Cast<YamlMappingNode>().Single(c => Scalar(c, "name") == name);

    private static string[] Args(YamlMappingNode container) =>
        [.. ((YamlSequenceNode)container["args"]).Children.Select(a => a.ToString())];

    private static string Value(string[] args, string flag) =>
        args.Single(a => a.StartsWith(flag + "=", StringComparison.Ordinal))[(flag.Length + 1)..];

    private static double Seconds(string duration)
    {
        Assert.True(Putsh.Protocol.Configuration.Durations.TryParse(duration, out var value), duration);
        return value.TotalSeconds;
    }

    /// <summary>A port given by number or by the container's port name.</summary>
    private static int Port(YamlMappingNode container, string port) =>
        int.TryParse(port, CultureInfo.InvariantCulture, out var n)
            ? n
            : int.Parse(Scalar(((YamlSequenceNode)container["ports"]).Children.Cast<YamlMappingNode>().Single(p => Scalar(p, "name") == port), "containerPort"), CultureInfo.InvariantCulture);

    private static string Scalar(YamlNode node, params string[] path)
    {
        foreach (var key in path)
        {
            node = ((YamlMappingNode)node)[key];
        }

        return ((YamlScalarNode)node).Value!;
    }

    private static string Folder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var folder = Path.Combine(dir.FullName, "deploy", "kubernetes");
            if (Directory.Exists(folder))
            {
                return folder;
            }
        }

        throw new InvalidOperationException("deploy/kubernetes not found above " + AppContext.BaseDirectory);
    }
}
