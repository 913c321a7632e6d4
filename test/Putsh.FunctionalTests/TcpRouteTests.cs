using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Putsh.Cli.Commands;
using Putsh.Cli.Tests;
using Putsh.Connector;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.FunctionalTests;

/// <summary>
/// Raw TCP through the tunnel (the putsh <c>tcp</c> extension, docs/protocol.md §12.9): a router listening with
/// <c>--tcp-listen</c>, a connector with <c>--tcp-route</c>/<c>--tcp-target</c>, real sockets at both ends.
/// </summary>
public sealed class TcpRouteTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Route = "echo";

    private TestRouter? _router;
    private IPEndPoint? _tcp;
    private CrankerConnector? _connector;
    private TcpServer? _target;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_connector is not null)
        {
            await _connector.DisposeAsync();
        }

        if (_router is not null)
        {
            await _router.DisposeAsync();
        }

        _target?.Dispose();
    }

    /// <summary>A router with a TCP listener for <see cref="Route"/>, and (unless <paramref name="connect"/> is false) a connector serving it from <paramref name="target"/>.</summary>
    private async Task StartAsync(IPEndPoint target, bool connect = true, Action<ConnectorOptions>? configure = null, Action<Putsh.Router.RouterOptions>? router = null)
    {
        _router = await CliTestRouter.StartOnFreePortAsync(port =>
        {
            _tcp = new IPEndPoint(IPAddress.Loopback, port);
            var settings = new RouterSettings { Listen = ["http://127.0.0.1:0"], Register = ["http://127.0.0.1:0"], TcpListen = [$"127.0.0.1:{port}={Route}"] };
            router?.Invoke(settings.Options);
            return settings;
        }, output);
        if (connect)
        {
            _connector = await TestConnector.StartAsync([_router.RegisterUri], "", new Uri("http://unused.invalid"), output, o =>
            {
                o.Target = "";
                o.TcpRoute.Add(Route);
                o.TcpTarget.Add(target.ToString());
                configure?.Invoke(o);
            });
            await Eventually.True(() => _router.V3Pool(Route, "tcp")?.Count >= 2, "the router to hold the connector's TCP route sockets");
        }
    }

    private async Task<Socket> ConnectAsync()
    {
        var client = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await client.ConnectAsync(_tcp!, TestTimeouts.Token());
        return client;
    }

    private static async Task<byte[]> ReadToEndAsync(Socket socket)
    {
        using var all = new MemoryStream();
        var buffer = new byte[8192];
        int n;
        while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, TestTimeouts.Token())) > 0)
        {
            all.Write(buffer, 0, n);
        }

        return all.ToArray();
    }

    [Fact]
    public async Task A_client_half_close_reaches_the_target_and_the_target_answers_after_it()
    {
        // The target echoes, and once it has read to the end (the client's FIN) adds a line and closes.
        _target = TcpServer.Start(async s =>
        {
            var got = await ReadToEndAsync(s);
            await s.SendAsync(got.Concat("\nEOF"u8.ToArray()).ToArray(), SocketFlags.None);
            s.Shutdown(SocketShutdown.Send);
        });
        await StartAsync(_target.EndPoint);

        using var client = await ConnectAsync();
        await client.SendAsync("hello"u8.ToArray(), SocketFlags.None, TestTimeouts.Token());
        client.Shutdown(SocketShutdown.Send);

        Assert.Equal("hello\nEOF", Encoding.ASCII.GetString(await ReadToEndAsync(client).DefaultTimeout()));
    }

    [Fact]
    public async Task A_target_half_close_reaches_the_client_which_may_go_on_sending()
    {
        // The target speaks first and closes its side, then reads what the client still sends.
        var late = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        _target = TcpServer.Start(async s =>
        {
            await s.SendAsync("banner"u8.ToArray(), SocketFlags.None);
            s.Shutdown(SocketShutdown.Send);
            late.TrySetResult(Encoding.ASCII.GetString(await ReadToEndAsync(s)));
        });
        await StartAsync(_target.EndPoint);

        using var client = await ConnectAsync();
        Assert.Equal("banner", Encoding.ASCII.GetString(await ReadToEndAsync(client).DefaultTimeout()));
        await client.SendAsync("still here"u8.ToArray(), SocketFlags.None, TestTimeouts.Token());
        client.Shutdown(SocketShutdown.Send);

        Assert.Equal("still here", await late.Task.DefaultTimeout());
    }

    [Fact]
    public async Task One_GiB_echoes_byte_exact_in_both_directions_at_once()
    {
        _target = TcpServer.Start(async s =>
        {
            var buffer = new byte[256 * 1024];
            int n;
            while ((n = await s.ReceiveAsync(buffer, SocketFlags.None)) > 0)
            {
                await s.SendAsync(buffer.AsMemory(0, n), SocketFlags.None);
            }

            s.Shutdown(SocketShutdown.Send);
        });
        await StartAsync(_target.EndPoint);
        const long total = 1L << 30;

        using var client = await ConnectAsync();
        var clock = Stopwatch.StartNew();
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var send = Task.Run(async () =>
        {
            var pattern = new Pattern(7);
            var buffer = new byte[256 * 1024];
            for (long sent = 0; sent < total; sent += buffer.Length)
            {
                pattern.Fill(buffer);
                await client.SendAsync(buffer, SocketFlags.None, limit.Token);
            }

            client.Shutdown(SocketShutdown.Send);
        });
        var check = new Pattern(7);
        var received = 0L;
        var incoming = new byte[256 * 1024];
        var expected = new byte[incoming.Length];
        int n;
        while ((n = await client.ReceiveAsync(incoming, SocketFlags.None, limit.Token)) > 0)
        {
            check.Fill(expected.AsSpan(0, n));
            Assert.True(incoming.AsSpan(0, n).SequenceEqual(expected.AsSpan(0, n)), $"the echo differs within bytes {received} to {received + n}");
            received += n;
        }

        await send;
        Assert.Equal(total, received);
        output.WriteLine($"1 GiB each way in {clock.Elapsed.TotalSeconds:0.0} s");
    }

    [Fact]
    public async Task A_thousand_concurrent_short_connections_each_get_their_own_bytes_back()
    {
        _target = TcpServer.Start(async s =>
        {
            var got = await ReadToEndAsync(s);
            await s.SendAsync(got, SocketFlags.None);
            s.Shutdown(SocketShutdown.Send);
        });
        await StartAsync(_target.EndPoint);

        var connections = Enumerable.Range(0, 1000).Select(async i =>
        {
            using var client = await ConnectAsync();
            var mine = Encoding.ASCII.GetBytes($"connection {i:0000}");
            await client.SendAsync(mine, SocketFlags.None, TestTimeouts.Token());
            client.Shutdown(SocketShutdown.Send);
            return (Sent: mine, Back: await ReadToEndAsync(client));
        }).ToList();
        var results = await Task.WhenAll(connections).DefaultTimeout();

        Assert.All(results, r => Assert.Equal(r.Sent, r.Back));
        Assert.Equal(1000, _target.Accepted);
    }

    [Fact]
    public async Task A_connection_with_no_connector_is_closed_at_once_and_counted()
    {
        await StartAsync(new IPEndPoint(IPAddress.Loopback, 1), connect: false);
        using var collector = new MetricCollector<long>(_router!.Services.GetRequiredService<IMeterFactory>(), Putsh.Router.Observability.RouterMeter.Name, "putsh.router.tcp.connections");

        using var client = await ConnectAsync();
        Assert.Empty(await ReadToEndAsync(client).DefaultTimeout());

        await collector.WaitForMeasurementsAsync(1).DefaultTimeout();
        var measurement = Assert.Single(collector.GetMeasurementSnapshot());
        Assert.Equal("no_connector", measurement.Tags["putsh.tcp.outcome"]);
        Assert.Equal(Route, measurement.Tags["putsh.tcp.route"]);
    }

    [Fact]
    public async Task A_target_that_refuses_ends_the_client_connection()
    {
        // Nothing listens on the target port: the connector answers 502 and the router closes the client.
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        await StartAsync(new IPEndPoint(IPAddress.Loopback, port));
        using var client = await ConnectAsync();
        await client.SendAsync("anyone?"u8.ToArray(), SocketFlags.None, TestTimeouts.Token());

        var ended = await Record.ExceptionAsync(async () => Assert.Empty(await ReadToEndAsync(client))).DefaultTimeout();
        Assert.True(ended is null or SocketException, $"expected the connection closed or reset, got {ended}");
    }

    [Fact]
    public async Task A_TCP_route_is_authenticated_as_an_HTTP_route_is()
    {
        _target = TcpServer.Start(async s => await s.SendAsync("hi"u8.ToArray(), SocketFlags.None));
        await StartAsync(_target.EndPoint, connect: false, router: o =>
        {
            o.RegistrationTokens.Add("echo: token-for-echo-0123456789abcdef");
            o.RegistrationTokens.Add("other: token-for-other-0123456789abcdef");
        });

        await using var refused = await TestConnector.StartAsync([_router!.RegisterUri], "", new Uri("http://unused.invalid"), output, o =>
        {
            o.Target = "";
            o.Token = "token-for-other-0123456789abcdef";
            o.TcpRoute.Add(Route);
            o.TcpTarget.Add(_target.EndPoint.ToString());
        }, sockets: 1, waitForSockets: false);
        await Eventually.True(() => refused.Routers[0].LastError?.Contains("403", StringComparison.Ordinal) == true, "the connector whose token does not cover the route to be refused");

        await using var admitted = await TestConnector.StartAsync([_router.RegisterUri], "", new Uri("http://unused.invalid"), output, o =>
        {
            o.Target = "";
            o.Token = "token-for-echo-0123456789abcdef";
            o.TcpRoute.Add(Route);
            o.TcpTarget.Add(_target.EndPoint.ToString());
        }, sockets: 1);
        using var client = await ConnectAsync();
        var buffer = new byte[2];
        Assert.Equal(2, await client.ReceiveAsync(buffer, SocketFlags.None, TestTimeouts.Token()));
        Assert.Equal("hi", Encoding.ASCII.GetString(buffer));
    }

    [Fact]
    public async Task A_TCP_route_is_authenticated_by_client_certificate_as_an_HTTP_route_is()
    {
        using var pki = new TestCertificates();
        var (cert, key) = pki.Server("router");
        var echo = pki.Client("echo-connector", "echo-connector", dnsNames: [Route]);
        var other = pki.Client("other-connector", "other-connector", dnsNames: ["other"]);
        _target = TcpServer.Start(async s => await s.SendAsync("hi"u8.ToArray(), SocketFlags.None));
        _router = await CliTestRouter.StartOnFreePortAsync(port =>
        {
            _tcp = new IPEndPoint(IPAddress.Loopback, port);
            var settings = new RouterSettings { Listen = ["http://127.0.0.1:0"], Register = ["https://127.0.0.1:0"], TlsCert = cert, TlsKey = key, TcpListen = [$"127.0.0.1:{port}={Route}"] };
            settings.Options.RegistrationClientCa = pki.CaFile;
            settings.Options.RegistrationClientCertRoutes = true;
            return settings;
        }, output);

        void Tcp(ConnectorOptions o, (string CertFile, string KeyFile) identity)
        {
            o.Target = "";
            o.TrustedCaFile = pki.CaFile;
            o.ClientCertificateFile = identity.CertFile;
            o.ClientKeyFile = identity.KeyFile;
            o.TcpRoute.Add(Route);
            o.TcpTarget.Add(_target!.EndPoint.ToString());
        }

        // A certificate that names another route is refused; one that names this route serves it.
        await using var refused = await TestConnector.StartAsync([_router.RegisterUri], "", new Uri("http://unused.invalid"), output, o => Tcp(o, other), sockets: 1, waitForSockets: false);
        await Eventually.True(() => refused.Routers[0].LastError?.Contains("403", StringComparison.Ordinal) == true, "the connector whose certificate does not name the route to be refused");
        await using var admitted = await TestConnector.StartAsync([_router.RegisterUri], "", new Uri("http://unused.invalid"), output, o => Tcp(o, echo), sockets: 1);

        using var client = await ConnectAsync();
        var buffer = new byte[2];
        Assert.Equal(2, await client.ReceiveAsync(buffer, SocketFlags.None, TestTimeouts.Token()));
        Assert.Equal("hi", Encoding.ASCII.GetString(buffer));
    }

    [SkippableFact]
    public async Task Redis_works_through_the_tunnel_driven_by_redis_cli()
    {
        const string server = "/usr/bin/redis-server";
        Skip.If(!File.Exists(server) && Environment.GetEnvironmentVariable("CI") is null, "redis-server is not installed (CI installs it from Debian)");
        var port = TestRouter.FreePort();
        using var redis = Process.Start(new ProcessStartInfo(server, ["--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        })!;
        try
        {
            await Eventually.True(() => CanConnect(port), "redis-server to listen");
            await StartAsync(new IPEndPoint(IPAddress.Loopback, port));

            var cli = new[] { "-h", "127.0.0.1", "-p", _tcp!.Port.ToString(System.Globalization.CultureInfo.InvariantCulture) };
            var set = await ShortProcess.RunAsync("redis-cli", [.. cli, "SET", "putsh", "through the tunnel"]);
            Assert.Equal((0, "OK"), (set.Code, set.Output));
            var get = await ShortProcess.RunAsync("redis-cli", [.. cli, "GET", "putsh"]);
            Assert.Equal((0, "through the tunnel"), (get.Code, get.Output));
            var count = await ShortProcess.RunAsync("redis-cli", [.. cli, "DBSIZE"]);
            Assert.Equal("1", count.Output);
        }
        finally
        {
            redis.Kill();
            await redis.WaitForExitAsync();
        }
    }

    private static bool CanConnect(int port)
    {
        try
        {
            using var probe = new TcpClient();
            probe.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>A reproducible byte stream (xorshift), so that 1 GiB can be checked without being kept.</summary>
    private sealed class Pattern(ulong seed)
    {
        private ulong _state = seed;

        public void Fill(Span<byte> buffer)
        {
            for (var i = 0; i < buffer.Length; i++)
            {
                _state ^= _state << 13;
                _state ^= _state >> 7;
                _state ^= _state << 17;
                buffer[i] = (byte)_state;
            }
        }
    }

    /// <summary>A TCP server on 127.0.0.1 that runs a handler for each connection it accepts.</summary>
    private sealed class TcpServer : IDisposable
    {
        private readonly Socket _listener = new(SocketType.Stream, ProtocolType.Tcp);
        private int _accepted;

        public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndPoint!;

        public int Accepted => Volatile.Read(ref _accepted);

        public static TcpServer Start(Func<Socket, Task> serve)
        {
            var server = new TcpServer();
            server._listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            server._listener.Listen(2048);
            _ = server.AcceptAsync(serve);
            return server;
        }

        private async Task AcceptAsync(Func<Socket, Task> serve)
        {
            while (true)
            {
                Socket connection;
                try
                {
                    connection = await _listener.AcceptAsync();
                }
                catch (Exception)
                {
                    return;
                }

                Interlocked.Increment(ref _accepted);
                _ = Task.Run(async () =>
                {
                    using (connection)
                    {
                        try
                        {
                            await serve(connection);
                        }
                        catch (Exception)
                        {
                        }
                    }
                });
            }
        }

        public void Dispose() => _listener.Dispose();
    }
}
