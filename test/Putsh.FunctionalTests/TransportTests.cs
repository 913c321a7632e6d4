using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Putsh.Cli.Commands;
using Putsh.Cli.Tests;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.FunctionalTests;

/// <summary>TLS on both listeners, DNS fan-out to one router per address, and liveness on both sides.</summary>
public sealed class TransportTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("putsh-tls-").FullName;

    [Fact]
    public async Task Tls_listeners_serve_http2_to_clients_and_wss_to_connectors_trusting_an_extra_ca()
    {
        using var certificate = CreateSelfSigned();
        var certFile = Path.Combine(_dir, "cert.pem");
        var keyFile = Path.Combine(_dir, "key.pem");
        await File.WriteAllTextAsync(certFile, certificate.ExportCertificatePem());
        using (var key = certificate.GetRSAPrivateKey()!)
        {
            await File.WriteAllTextAsync(keyFile, key.ExportPkcs8PrivateKeyPem());
        }

        await using var backend = await TestBackend.StartAsync(app => Backends.Map(app, "/tls"), output);
        var settings = new RouterSettings { Listen = ["https://127.0.0.1:0"], Register = ["https://127.0.0.1:0"], TlsCert = certFile, TlsKey = keyFile };
        await using var router = await CliTestRouter.StartAsync(settings, output);
        Assert.Equal("wss", router.RegisterUri.Scheme);

        // Without the extra CA the self-signed router is refused, as it must be.
        await using var untrusting = await TestConnector.StartAsync([router.RegisterUri], "tls", backend.Uri, output, sockets: 1, waitForSockets: false);
        await Eventually.True(() => untrusting.Routers[0].ConsecutiveFailures > 0, "the untrusted router to be refused");
        Assert.Equal(0, untrusting.Routers[0].IdleSockets);

        await using var connector = await TestConnector.StartAsync([router.RegisterUri], "tls", backend.Uri, output, o => o.TrustedCaFile = certFile, sockets: 2);

        using var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, cert, _, _) => cert?.GetCertHashString() == certificate.GetCertHashString() },
        };
        using var client = new HttpClient(handler) { BaseAddress = router.ClientUri };
        foreach (var version in new[] { HttpVersion.Version11, HttpVersion.Version20 })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/tls/headers") { Version = version, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
            using var response = await client.SendAsync(request).DefaultTimeout();
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(version, response.Version);
            var lines = (await response.Content.ReadAsStringAsync().DefaultTimeout()).Split('\n');
            Assert.Contains(lines, l => l.StartsWith("forwarded:", StringComparison.Ordinal) && l.EndsWith("proto=https", StringComparison.Ordinal));
            Assert.Contains($"via: {(version == HttpVersion.Version20 ? "HTTP/2" : "HTTP/1.1")} putsh", lines);
        }
    }

    [Fact]
    public async Task A_router_name_with_several_addresses_means_one_router_per_address_re_resolved()
    {
        await using var backend = await TestBackend.StartAsync(app => Backends.Map(app, "/dns"), output);
        await using var router = await CliTestRouter.StartOnFreePortAsync(
            port => new RouterSettings { Listen = ["http://127.0.0.1:0"], Register = [$"http://127.0.0.1:{port}", $"http://127.0.0.2:{port}"] }, output);
        var port = router.RegisterUri.Port;

        IPAddress[] addresses = [IPAddress.Parse("127.0.0.1"), IPAddress.Parse("127.0.0.2")];
        var options = new Putsh.Connector.ConnectorOptions
        {
            Route = "dns",
            Target = backend.Uri.ToString(),
            Sockets = 2,
            RouterRefreshInterval = TimeSpan.FromMilliseconds(100),
        };
        TestConnector.V1Only(options);
        options.Routers.Add($"ws://routers.test:{port}");
        await using var connector = new Putsh.Connector.CrankerConnector(options)
        {
            ResolveHost = (host, _) => Task.FromResult(host == "routers.test" ? Volatile.Read(ref addresses) : throw new SocketException()),
        };
        await connector.StartAsync().DefaultTimeout();
        await connector.WaitForIdleSocketsAsync(2, TestTimeouts.Token()).DefaultTimeout();

        Assert.Equal(2, connector.Routers.Count);
        await Eventually.True(() => router.V1Pool("dns")?.IdleCount == 4, "the router to hold both registrations' sockets");
        Assert.StartsWith("method=GET", await router.Client.GetStringAsync("/dns/method").DefaultTimeout());

        // One address leaves DNS: its registration is deregistered and dropped at the next refresh.
        Volatile.Write(ref addresses, [IPAddress.Parse("127.0.0.1")]);
        await Eventually.True(() => connector.Routers.Count == 1, "the vanished address to be dropped");
        await Eventually.True(() => router.V1Pool("dns")!.IdleCount == 2, "the router to hold only the remaining address's sockets");
        Assert.Contains("127.0.0.1", connector.Routers[0].Router);
    }

    [Fact]
    public async Task A_router_that_stops_answering_pings_is_dropped_and_redialled()
    {
        // A "router" that completes the WebSocket handshake and then never reads again: no pongs, ever.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var accepted = new List<TcpClient>();

        await using var connector = await TestConnector.StartAsync([new Uri($"ws://127.0.0.1:{port}")], "silent", new Uri("http://127.0.0.1:1"), output, o =>
        {
            o.PingInterval = TimeSpan.FromMilliseconds(100);
            o.SilenceTimeout = TimeSpan.FromMilliseconds(400);
        }, sockets: 1, waitForSockets: false);

        try
        {
            // The first socket is accepted and goes silent; the connector must give up on it and dial again.
            accepted.Add(await AcceptWebSocketAsync(listener));
            await connector.WaitForIdleSocketsAsync(1, TestTimeouts.Token()).DefaultTimeout();
            accepted.Add(await AcceptWebSocketAsync(listener));
            Assert.Equal(2, accepted.Count);
        }
        finally
        {
            foreach (var c in accepted)
            {
                c.Dispose();
            }
        }
    }

    [Fact]
    public async Task A_connector_that_stops_answering_pings_is_removed_by_the_router()
    {
        await using var router = await CliTestRouter.StartAsync(output, o =>
        {
            o.PingInterval = TimeSpan.FromMilliseconds(100);
            o.IdleTimeout = TimeSpan.FromMilliseconds(500);
        });

        // Registers, then never reads: pings from the router go unanswered, as with a frozen or vanished process.
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, router.RegisterUri.Port).DefaultTimeout();
        var stream = tcp.GetStream();
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        await stream.WriteAsync(Encoding.ASCII.GetBytes(
            $"GET /register?connectorInstanceID=frozen HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nCrankerProtocol: 1.0\r\nRoute: frozen\r\n\r\n")).AsTask().DefaultTimeout();

        await Eventually.True(() => router.V1Pool("frozen")?.IdleCount == 1, "the frozen connector's socket to register");
        await Eventually.True(() => router.V1Pool("frozen")!.IdleCount == 0, "the router to drop the silent socket");
    }

    private static async Task<TcpClient> AcceptWebSocketAsync(TcpListener listener)
    {
        var client = await listener.AcceptTcpClientAsync().DefaultTimeout();
        var stream = client.GetStream();
        var request = new StringBuilder();
        var one = new byte[1];
        while (!request.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            Assert.Equal(1, await stream.ReadAsync(one).AsTask().DefaultTimeout());
            request.Append((char)one[0]);
        }

        var key = request.ToString().Split("\r\n").First(l => l.StartsWith("Sec-WebSocket-Key:", StringComparison.OrdinalIgnoreCase))["Sec-WebSocket-Key:".Length..].Trim();
#pragma warning disable CA5350 // RFC 6455 fixes SHA-1 for the handshake
        var accept = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
#pragma warning restore CA5350
        await stream.WriteAsync(Encoding.ASCII.GetBytes(
            $"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\nCrankerProtocol: 1.0\r\n\r\n")).AsTask().DefaultTimeout();
        return client;
    }

    private static X509Certificate2 CreateSelfSigned()
    {
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=putsh-test", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment | X509KeyUsageFlags.KeyCertSign, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddDays(-1), now.AddDays(1));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
