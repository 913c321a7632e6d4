using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Putsh.Router.Hosting;
using Putsh.Router.Routing;
using Putsh.Tests.Common;

namespace Putsh.Router.Tests.Hosting;

/// <summary>
/// Registrations served below HTTP (<see cref="RegistrationConnections.UsePutshRegistrationConnections"/>), on a real
/// Kestrel listener whose HTTP pipeline counts every request that reaches it.
/// </summary>
public sealed class RegistrationConnectionsTests
{
    [Fact]
    public async Task A_registration_is_answered_below_http_and_its_socket_serves_the_route_until_closed()
    {
        await using var router = await Router.StartAsync();

        using var ws = new ClientWebSocket();
        ws.Options.CollectHttpResponseDetails = true;
        ws.Options.AddSubProtocol("cranker_3.0");
        ws.Options.SetRequestHeader("Route", "orders");
        await ws.ConnectAsync(new Uri($"ws://127.0.0.1:{router.Port}/register/?connectorInstanceID=c1&componentName=t"), TestTimeouts.Token());

        Assert.Equal(HttpStatusCode.SwitchingProtocols, ws.HttpStatusCode);
        Assert.Equal("cranker_3.0", ws.SubProtocol);
        await Eventually.True(() => router.V3Sockets("orders") == 1, "the socket to join route 'orders'");
        Assert.Equal(0, router.HttpRequests);

        // The close handshake runs over the connection's pipes, and the router's echo reaches the connector.
        await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", TestTimeouts.Token());
        Assert.Equal(WebSocketCloseStatus.NormalClosure, ws.CloseStatus);
        await Eventually.True(() => router.V3Sockets("orders") == 0, "the socket to leave route 'orders'");
    }

    [Fact]
    public async Task Bytes_sent_right_after_the_head_are_the_sockets_first_frames()
    {
        await using var router = await Router.StartAsync();
        using var tcp = await router.ConnectAsync();
        var stream = tcp.GetStream();

        // The upgrade and a masked ping in one write, before any answer.
        byte[] payload = [1, 2, 3, 4, 5];
        byte[] mask = [9, 8, 7, 6];
        var ping = new byte[2 + 4 + payload.Length];
        ping[0] = 0x89;
        ping[1] = (byte)(0x80 | payload.Length);
        mask.CopyTo(ping, 2);
        for (var i = 0; i < payload.Length; i++)
        {
            ping[6 + i] = (byte)(payload[i] ^ mask[i % 4]);
        }

        byte[] both = [.. Encoding.ASCII.GetBytes(UpgradeHead(out var key)), .. ping];
        await stream.WriteAsync(both, TestTimeouts.Token());

        var (head, rest) = await ReadHeadAsync(stream);
        Assert.StartsWith("HTTP/1.1 101 Switching Protocols\r\n", head);
        Assert.Contains($"Sec-WebSocket-Accept: {Accept(key)}\r\n", head);
        Assert.Contains("Sec-WebSocket-Protocol: cranker_3.0\r\n", head);

        var pong = await ReadExactlyAsync(stream, rest, 2 + payload.Length);
        byte[] expected = [0x8A, (byte)payload.Length, .. payload];
        Assert.Equal(expected, pong);
        Assert.Equal(0, router.HttpRequests);
    }

    [Fact]
    public async Task A_refusal_is_written_below_http_with_its_status_challenge_and_reason()
    {
        await using var router = await Router.StartAsync(o => o.RegistrationTokens.Add("s3cret"));

        using (var tcp = await router.ConnectAsync())
        {
            var stream = tcp.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(UpgradeHead(out _)), TestTimeouts.Token());
            var (head, rest) = await ReadHeadAsync(stream);
            Assert.StartsWith("HTTP/1.1 401 Unauthorized\r\n", head);
            Assert.Contains("WWW-Authenticate: Bearer realm=\"putsh registration\"", head);
            Assert.Contains("Cache-Control: no-store\r\n", head);
            Assert.Contains("Connection: close\r\n", head);
            var length = int.Parse(head.Split("\r\n").Single(l => l.StartsWith("Content-Length: ", StringComparison.Ordinal))["Content-Length: ".Length..]);
            var body = Encoding.UTF8.GetString(await ReadExactlyAsync(stream, rest, length));
            Assert.Equal("a registration token is required (Authorization: Bearer <token>)\n", body);
        }

        using (var tcp = await router.ConnectAsync())
        {
            var stream = tcp.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(UpgradeHead(out _, "Authorization: Bearer s3cret\r\n")), TestTimeouts.Token());
            var (head, _) = await ReadHeadAsync(stream);
            Assert.StartsWith("HTTP/1.1 101 ", head);

            // Checked while the connection is open: once it closes, the socket leaves the route again.
            await Eventually.True(() => router.V3Sockets("orders") == 1, "the authorised socket to join");
        }

        Assert.Equal(0, router.HttpRequests);
    }

    [Fact]
    public async Task Other_requests_and_heads_beyond_the_limits_reach_http_with_every_byte()
    {
        await using var router = await Router.StartAsync();

        using (var tcp = await router.ConnectAsync())
        {
            var stream = tcp.GetStream();
            await stream.WriteAsync("GET /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray(), TestTimeouts.Token());
            var (head, _) = await ReadHeadAsync(stream);
            Assert.StartsWith("HTTP/1.1 404 ", head);
        }

        Assert.Equal(1, router.HttpRequests);

        // More fields than the middleware takes (8): HTTP reads the whole head and accepts the registration itself.
        using (var tcp = await router.ConnectAsync())
        {
            var stream = tcp.GetStream();
            var extra = string.Concat(Enumerable.Range(1, 4).Select(i => $"X-Extra-{i}: {i}\r\n"));
            await stream.WriteAsync(Encoding.ASCII.GetBytes(UpgradeHead(out var key, extra)), TestTimeouts.Token());
            var (head, _) = await ReadHeadAsync(stream);
            Assert.StartsWith("HTTP/1.1 101 ", head);
            Assert.Contains($"Sec-WebSocket-Accept: {Accept(key)}", head);
            await Eventually.True(() => router.V3Sockets("orders") == 1, "the socket accepted over HTTP to join");
        }

        Assert.Equal(2, router.HttpRequests);
    }

    private static string UpgradeHead(out string key, string extra = "")
    {
        key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        return "GET /register?connectorInstanceID=raw HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + $"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: cranker_3.0\r\nRoute: orders\r\n{extra}\r\n";
    }

#pragma warning disable CA5350 // RFC 6455 §4.2.2 names SHA-1 for the accept value
    private static string Accept(string key) =>
        Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
#pragma warning restore CA5350

    /// <summary>Reads up to the end of a response head; returns it and whatever bytes came after it.</summary>
    private static async Task<(string Head, byte[] After)> ReadHeadAsync(NetworkStream stream)
    {
        var buffer = new List<byte>();
        var chunk = new byte[4096];
        while (true)
        {
            var text = Encoding.ASCII.GetString([.. buffer]);
            var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end >= 0)
            {
                return (text[..(end + 4)], [.. buffer.Skip(end + 4)]);
            }

            var n = await stream.ReadAsync(chunk, TestTimeouts.Token());
            Assert.True(n > 0, "the connection closed before a whole response head: " + text);
            buffer.AddRange(chunk.AsSpan(0, n));
        }
    }

    private static async Task<byte[]> ReadExactlyAsync(NetworkStream stream, byte[] already, int count)
    {
        var result = new byte[count];
        var have = Math.Min(already.Length, count);
        already.AsSpan(0, have).CopyTo(result);
        await stream.ReadExactlyAsync(result.AsMemory(have), TestTimeouts.Token());
        return result;
    }

    private sealed class Router : IAsyncDisposable
    {
        private int _httpRequests;

        private Router(WebApplication app, int port)
        {
            App = app;
            Port = port;
        }

        public WebApplication App { get; }

        public int Port { get; }

        public int HttpRequests => Volatile.Read(ref _httpRequests);

        public static async Task<Router> StartAsync(Action<RouterOptions>? configure = null)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.Services.AddPutshRouter(configure);
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.UsePutshRegistrationConnections(maxHeadSize: 4096, maxHeaders: 8)));
            var app = builder.Build();
            Router? router = null;
            app.Use((context, next) =>
            {
                Interlocked.Increment(ref router!._httpRequests);
                return next(context);
            });
            app.RunPutshRegistration();
            await app.StartAsync(TestTimeouts.Token());
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
            router = new Router(app, new Uri(address).Port);
            return router;
        }

        public int V3Sockets(string route) =>
            App.Services.GetRequiredService<RouteTable>().V3Pools.Where(p => p.Route == route).Sum(p => p.Count);

        public async Task<TcpClient> ConnectAsync()
        {
            var tcp = new TcpClient();
            await tcp.ConnectAsync(IPAddress.Loopback, Port, TestTimeouts.Token());
            return tcp;
        }

        public async ValueTask DisposeAsync()
        {
            using var stop = new CancellationTokenSource(TestTimeouts.Default);
            await App.StopAsync(stop.Token);
            await App.DisposeAsync();
        }
    }
}
