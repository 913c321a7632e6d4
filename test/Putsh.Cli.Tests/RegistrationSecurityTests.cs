using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Cli.Tests;

/// <summary>
/// Authenticated registration, with the real executable as router (and as connector where the connector's side is the
/// point): tokens, tokens bound to routes, rotation through the token file, client certificates, the address
/// allow-list, and the refusal to start with registration open to other machines.
/// </summary>
public sealed partial class RegistrationSecurityTests(ITestOutputHelper output) : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("putsh-auth-");

    private string WriteFile(string name, string text)
    {
        var path = Path.Combine(_dir.FullName, name);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>One registration (or deregistration) attempt as a connector would make it; the router's HTTP answer.</summary>
    private static async Task<(HttpStatusCode Status, string Challenge)> RegisterAsync(
        Uri register, string route, string? token = null, X509Certificate2? certificate = null, IPAddress? from = null, string path = "register", string? caFile = null)
    {
        using var handler = new SocketsHttpHandler { UseProxy = false };
        if (caFile is not null)
        {
            var roots = new X509Certificate2Collection();
            roots.ImportFromPemFile(caFile);
            handler.SslOptions.CertificateChainPolicy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
            handler.SslOptions.CertificateChainPolicy.CustomTrustStore.AddRange(roots);
        }

        if (certificate is not null)
        {
            handler.SslOptions.ClientCertificates = [certificate];
        }

        if (from is not null)
        {
            handler.ConnectCallback = async (context, ct) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                socket.Bind(new IPEndPoint(from, 0));
                await socket.ConnectAsync(context.DnsEndPoint, ct);
                return new NetworkStream(socket, ownsSocket: true);
            };
        }

        using var invoker = new HttpMessageInvoker(handler);
        using var ws = new ClientWebSocket();
        ws.Options.CollectHttpResponseDetails = true;
        ws.Options.AddSubProtocol("cranker_3.0");
        ws.Options.SetRequestHeader("CrankerProtocol", "1.0");
        ws.Options.SetRequestHeader("Route", route);
        ws.Options.SetRequestHeader("Domain", "*");
        if (token is not null)
        {
            ws.Options.SetRequestHeader("Authorization", "Bearer " + token);
        }

        var uri = new Uri(register, $"/{path}/?connectorInstanceID={Guid.NewGuid()}&componentName=probe");
        try
        {
            await ws.ConnectAsync(uri, invoker, TestTimeouts.Token());
            await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "probe done", TestTimeouts.Token());
        }
        catch (WebSocketException)
        {
        }

        var challenge = ws.HttpResponseHeaders is { } headers && headers.TryGetValue("WWW-Authenticate", out var values) ? string.Join(", ", values) : "";
        return (ws.HttpStatusCode, challenge);
    }

    private static Task<TestBackend> NamedBackendAsync(string route, ITestOutputHelper output) =>
        TestBackend.StartAsync(app => app.MapGet($"/{route}/{{**rest}}", () => route + " backend"), output);

    [Fact]
    public async Task Tokens_no_token_gets_401_a_wrong_one_403_and_a_token_bound_to_orders_cannot_take_payments_while_payments_keeps_all_its_traffic()
    {
        await using var backend = await NamedBackendAsync("payments", output);
        var (router, clients, register, _) = await PutshProcess.StartRouterAsync(output, "--registration-tokens", "pay-token-1", "--registration-tokens", "orders: orders-token-1");
        await using var _r = router;
        using var http = new HttpClient { BaseAddress = clients };

        var tokenFile = WriteFile("payments.token", "# the payments connector's token\npay-token-1\n");
        await using var payments = PutshProcess.Start(output, "connector", "--routers", register.ToString(), "--route", "payments", "--target", backend.Uri.ToString(), "--token-file", tokenFile, "--sockets", "4");
        await payments.WaitForLineAsync(l => l.Contains("Registered with router", StringComparison.Ordinal));

        // Traffic for payments throughout, while others try to register.
        var load = Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
        {
            var statuses = new List<string>();
            for (var i = 0; i < 40; i++)
            {
                using var response = await http.GetAsync($"/payments/{i}");
                statuses.Add($"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            }

            return statuses;
        }));

        var none = await RegisterAsync(register, "payments");
        Assert.Equal(HttpStatusCode.Unauthorized, none.Status);
        Assert.StartsWith("Bearer realm=", none.Challenge, StringComparison.Ordinal);

        var wrong = await RegisterAsync(register, "payments", token: "not-the-token");
        Assert.Equal(HttpStatusCode.Forbidden, wrong.Status);
        Assert.Contains("error=\"invalid_token\"", wrong.Challenge, StringComparison.Ordinal);

        var bound = await RegisterAsync(register, "payments", token: "orders-token-1");
        Assert.Equal(HttpStatusCode.Forbidden, bound.Status);
        Assert.Contains("error=\"insufficient_scope\"", bound.Challenge, StringComparison.Ordinal);

        // Deregistration needs credentials too, and the same scope.
        Assert.Equal(HttpStatusCode.Unauthorized, (await RegisterAsync(register, "payments", path: "deregister")).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await RegisterAsync(register, "payments", token: "orders-token-1", path: "deregister")).Status);

        // The bound token does what it is for.
        Assert.Equal(HttpStatusCode.SwitchingProtocols, (await RegisterAsync(register, "orders", token: "orders-token-1")).Status);

        // A refused route never entered the route table.
        Assert.Equal(HttpStatusCode.Unauthorized, (await RegisterAsync(register, "intruder")).Status);
        using (var intruder = await http.GetAsync("/intruder/x"))
        {
            Assert.Equal(HttpStatusCode.NotFound, intruder.StatusCode);
        }

        var results = (await load.DefaultTimeout()).SelectMany(s => s).ToList();
        Assert.Equal(160, results.Count);
        Assert.All(results, r => Assert.Equal("200 payments backend", r));

        // Refusals are logged with the remote address and reason; tokens never are.
        await router.WaitForLineAsync(l => l.Contains("refused", StringComparison.OrdinalIgnoreCase) && l.Contains("127.0.0.1", StringComparison.Ordinal) && l.Contains("not valid", StringComparison.Ordinal));
        Assert.DoesNotContain(router.Lines, l => l.Contains("not-the-token", StringComparison.Ordinal) || l.Contains("orders-token-1", StringComparison.Ordinal) || l.Contains("pay-token-1", StringComparison.Ordinal));

        // A connector with a wrong token says so clearly and backs off to the longest delay (default 10 s, jittered to 5-10 s).
        await using var rogue = PutshProcess.Start(output, "connector", "--routers", register.ToString(), "--route", "payments", "--target", backend.Uri.ToString(), "--token", "stolen-guess", "--sockets", "2");
        var refused = await rogue.WaitForLineAsync(l => l.Contains("refused this connector's registration", StringComparison.Ordinal));
        Assert.Contains("403", refused, StringComparison.Ordinal);
        Assert.Contains("invalid_token", refused, StringComparison.Ordinal);
        Assert.True(Putsh.Protocol.Configuration.Durations.TryParse(RetryDelay().Match(refused).Groups[1].Value, out var delay), refused);
        Assert.InRange(delay, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(10));
        Assert.DoesNotContain(rogue.Lines, l => l.Contains("stolen-guess", StringComparison.Ordinal));

        using var after = await http.GetAsync("/payments/after");
        Assert.Equal("payments backend", await after.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_token_rotated_through_the_files_keeps_connectors_connected_and_serving()
    {
        await using var backend = await NamedBackendAsync("orders", output);
        var routerTokens = WriteFile("router.tokens", "orders: token-a\n");
        var (router, clients, register, _) = await PutshProcess.StartRouterAsync(output, "--registration-token-file", routerTokens, "--socket-acquire-timeout", "20s");
        await using var _r = router;
        using var http = new HttpClient { BaseAddress = clients };

        // cranker_1.0 uses a socket up per request, so every request below makes the connector dial again with the
        // token it holds at that moment.
        var connectorToken = WriteFile("connector.token", "token-a\n");
        await using var connector = PutshProcess.Start(output, "connector", "--routers", register.ToString(), "--route", "orders", "--target", backend.Uri.ToString(),
            "--token-file", connectorToken, "--sockets", "2", "--protocols", "cranker_1.0");
        await connector.WaitForLineAsync(l => l.Contains("Registered with router", StringComparison.Ordinal));

        async Task ServesAsync(int count)
        {
            for (var i = 0; i < count; i++)
            {
                using var response = await http.GetAsync($"/orders/{i}");
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }
        }

        await ServesAsync(3);

        // 1. The router accepts the old token and the new one.
        File.WriteAllText(routerTokens, "orders: token-a\norders: token-b\n");
        await router.WaitForLineAsync(l => l.Contains("reloaded", StringComparison.OrdinalIgnoreCase) && l.Contains("2 tokens", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.SwitchingProtocols, (await RegisterAsync(register, "orders", token: "token-b")).Status);

        // 2. The connector moves to the new token.
        File.WriteAllText(connectorToken, "token-b\n");
        await connector.WaitForLineAsync(l => l.Contains("changed; sockets dialled from now on present the new token", StringComparison.Ordinal));
        await ServesAsync(3);

        // 3. The old token is retired.
        File.WriteAllText(routerTokens, "orders: token-b\n");
        await router.WaitForLineAsync(l => l.Contains("reloaded", StringComparison.OrdinalIgnoreCase) && l.Contains("1 tokens", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.Forbidden, (await RegisterAsync(register, "orders", token: "token-a")).Status);

        // Every request still finds a socket, each dialled with the new token; the connector was never refused.
        await ServesAsync(6);
        Assert.DoesNotContain(connector.Lines, l => l.Contains("refused", StringComparison.Ordinal));
        Assert.Single(connector.Lines, l => l.Contains("Registered with router", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Client_certificates_a_good_one_registers_and_serves_while_none_is_401_and_unknown_CA_expired_or_other_route_are_403()
    {
        using var pki = new TestCertificates();
        using var stranger = new TestCertificates("some other CA");
        var server = pki.Server();
        var good = pki.Client("orders-connector", "orders-connector", dnsNames: ["orders"]);
        var expired = pki.Client("expired", "orders-connector", dnsNames: ["orders"], notBefore: DateTimeOffset.UtcNow.AddDays(-10), notAfter: DateTimeOffset.UtcNow.AddDays(-1));
        var unknown = stranger.Client("unknown", "orders-connector", dnsNames: ["orders"]);

        await using var backend = await NamedBackendAsync("orders", output);
        var process = PutshProcess.Start(output, "router", "--listen", "http://127.0.0.1:0", "--register", "https://127.0.0.1:0",
            "--tls-cert", server.CertFile, "--tls-key", server.KeyFile, "--registration-client-ca", pki.CaFile, "--registration-client-cert-routes");
        await using var _r = process;
        var line = await process.WaitForLineAsync(l => l.Contains("Clients (x) on ", StringComparison.Ordinal));
        var match = ListeningLine().Match(line);
        var clients = new Uri(match.Groups["clients"].Value);
        var register = new Uri("wss" + match.Groups["register"].Value["https".Length..]);
        using var http = new HttpClient { BaseAddress = clients };

        await using var connector = PutshProcess.Start(output, "connector", "--routers", register.ToString(), "--route", "orders", "--target", backend.Uri.ToString(),
            "--trusted-ca-file", pki.CaFile, "--client-certificate-file", good.CertFile, "--client-key-file", good.KeyFile, "--sockets", "2");
        await connector.WaitForLineAsync(l => l.Contains("Registered with router", StringComparison.Ordinal));
        using (var response = await http.GetAsync("/orders/1"))
        {
            Assert.Equal("orders backend", await response.Content.ReadAsStringAsync());
        }

        Assert.Equal(HttpStatusCode.Unauthorized, (await RegisterAsync(register, "orders", caFile: pki.CaFile)).Status);
        using (var cert = TestCertificates.Load(unknown))
        {
            Assert.Equal(HttpStatusCode.Forbidden, (await RegisterAsync(register, "orders", certificate: cert, caFile: pki.CaFile)).Status);
        }

        using (var cert = TestCertificates.Load(expired))
        {
            Assert.Equal(HttpStatusCode.Forbidden, (await RegisterAsync(register, "orders", certificate: cert, caFile: pki.CaFile)).Status);
        }

        using (var cert = TestCertificates.Load(good))
        {
            // The certificate names only orders.
            Assert.Equal(HttpStatusCode.Forbidden, (await RegisterAsync(register, "payments", certificate: cert, caFile: pki.CaFile)).Status);
        }

        await process.WaitForLineAsync(l => l.Contains("not accepted (not issued by the registration CA)", StringComparison.Ordinal));
        await process.WaitForLineAsync(l => l.Contains("not accepted (expired or not yet valid)", StringComparison.Ordinal));
        using (var response = await http.GetAsync("/orders/2"))
        {
            Assert.Equal("orders backend", await response.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task The_allow_list_is_checked_before_anything_else()
    {
        var (router, _, register, _) = await PutshProcess.StartRouterAsync(output, "--registration-allow", "10.0.0.0/8,127.0.0.2", "--registration-tokens", "t0ken");
        await using var _r = router;

        // From 127.0.0.1, not on the list: 403 even with the right token.
        Assert.Equal(HttpStatusCode.Forbidden, (await RegisterAsync(register, "orders", token: "t0ken")).Status);

        // From 127.0.0.2, on the list: the token is then what decides.
        var listed = IPAddress.Parse("127.0.0.2");
        Assert.Equal(HttpStatusCode.Unauthorized, (await RegisterAsync(register, "orders", from: listed)).Status);
        Assert.Equal(HttpStatusCode.SwitchingProtocols, (await RegisterAsync(register, "orders", token: "t0ken", from: listed)).Status);
        await router.WaitForLineAsync(l => l.Contains("RegistrationAllow", StringComparison.Ordinal) && l.Contains("127.0.0.1", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_router_with_open_registration_on_other_machines_refuses_to_start_in_one_line()
    {
        await using var router = PutshProcess.Start(output, "router", "--listen", "http://127.0.0.1:0", "--register", "http://0.0.0.0:0");
        Assert.Equal(2, await router.ExitCodeAsync());
        var error = Assert.Single(router.Lines);
        Assert.StartsWith("putsh: --register http://0.0.0.0:0 accepts connectors from other machines", error, StringComparison.Ordinal);
        Assert.Contains("--registration-tokens", error, StringComparison.Ordinal);
        Assert.Contains("--allow-open-registration", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_escape_hatch_starts_the_router_with_a_warning_and_loopback_connectors_register()
    {
        await using var backend = await NamedBackendAsync("open", output);
        var process = PutshProcess.Start(output, "router", "--listen", "http://127.0.0.1:0", "--register", "http://0.0.0.0:0", "--allow-open-registration");
        await using var _r = process;
        await process.WaitForLineAsync(l => l.Contains("Registration is open", StringComparison.Ordinal));
        var line = await process.WaitForLineAsync(l => l.Contains("Clients (x) on ", StringComparison.Ordinal));
        var match = ListeningLine().Match(line);
        var port = new Uri(match.Groups["register"].Value).Port;
        Assert.Equal(HttpStatusCode.SwitchingProtocols, (await RegisterAsync(new Uri($"ws://127.0.0.1:{port}"), "open")).Status);
    }

    // Durations in log lines read as the options take them: 6.864s, 250ms.
    [GeneratedRegex(@"retrying in ([0-9.]+(?:ms|s))\.", RegexOptions.IgnoreCase)]
    private static partial Regex RetryDelay();

    [GeneratedRegex(@"Clients \(x\) on (?<clients>\S+?);.*registration \(y\) on (?<register>\S+?); admin on (?<admin>\S+)")]
    private static partial Regex ListeningLine();

    public void Dispose() => _dir.Delete(recursive: true);
}
