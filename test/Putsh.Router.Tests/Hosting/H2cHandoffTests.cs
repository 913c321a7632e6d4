using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Putsh.Router.Hosting;

namespace Putsh.Router.Tests.Hosting;

/// <summary>One real Kestrel port serving HTTP/1.1 and h2c (HTTP/2 with prior knowledge).</summary>
public sealed class H2cHandoffTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Http11_request_is_served_as_HTTP_1_1()
    {
        await using var server = await H2cServer.StartAsync();
        using var client = new CountingClient();

        using var response = await client.Http.SendAsync(Request(HttpMethod.Get, server.Uri, HttpVersion.Version11)).WaitAsync(Timeout);
        var info = await Info.ReadAsync(response);

        Assert.Equal(HttpVersion.Version11, response.Version);
        Assert.Equal("HTTP/1.1", info.Protocol);
        Assert.Equal("http", info.Scheme);
        Assert.Equal("127.0.0.1", info.RemoteIp);
        Assert.Equal(server.Port, info.LocalPort);
        Assert.Equal("tcp", info.ListenerTag);
        server.AssertNoProblems();
    }

    [Fact]
    public async Task H2c_prior_knowledge_request_is_served_as_HTTP_2()
    {
        await using var server = await H2cServer.StartAsync();
        using var client = new CountingClient();

        using var response = await client.Http.SendAsync(Request(HttpMethod.Get, server.Uri, HttpVersion.Version20)).WaitAsync(Timeout);
        var info = await Info.ReadAsync(response);

        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal("HTTP/2", info.Protocol);
        Assert.Equal("http", info.Scheme);
        Assert.Equal("127.0.0.1", info.RemoteIp);
        Assert.Equal(server.Port, info.LocalPort);
        // The connection middleware given to ListenHttp1AndH2c ran on the HTTP/2 pipeline, and its feature reaches the request.
        Assert.Equal("handoff", info.ListenerTag);
        server.AssertNoProblems();
    }

    [Fact]
    public async Task Sequential_and_concurrent_h2c_requests_share_one_connection()
    {
        await using var server = await H2cServer.StartAsync();
        using var client = new CountingClient();
        var connectionIds = new List<string>();

        for (var i = 0; i < 5; i++)
        {
            using var response = await client.Http.SendAsync(Request(HttpMethod.Get, server.Uri, HttpVersion.Version20)).WaitAsync(Timeout);
            var info = await Info.ReadAsync(response);
            Assert.Equal("HTTP/2", info.Protocol);
            connectionIds.Add(info.ConnectionId);
        }

        // Every request waits at the barrier until all have arrived: they can only finish if they are in flight together.
        const int Concurrent = 20;
        var barrierUri = new Uri(server.Uri, $"/barrier?n={Concurrent}");
        var infos = await Task.WhenAll(Enumerable.Range(0, Concurrent).Select(async _ =>
        {
            using var response = await client.Http.SendAsync(Request(HttpMethod.Get, barrierUri, HttpVersion.Version20)).WaitAsync(Timeout);
            return await Info.ReadAsync(response);
        })).WaitAsync(Timeout);

        Assert.All(infos, info => Assert.Equal("HTTP/2", info.Protocol));
        connectionIds.AddRange(infos.Select(i => i.ConnectionId));
        Assert.Single(connectionIds.Distinct());
        Assert.Equal(1, client.Connections);
        server.AssertNoProblems();
    }

    [Fact]
    public async Task Http11_and_h2c_requests_interleave_on_the_same_port()
    {
        await using var server = await H2cServer.StartAsync();
        using var client = new CountingClient();

        var tasks = Enumerable.Range(0, 10).Select(async i =>
        {
            var version = i % 2 == 0 ? HttpVersion.Version11 : HttpVersion.Version20;
            using var response = await client.Http.SendAsync(Request(HttpMethod.Get, server.Uri, version)).WaitAsync(Timeout);
            return (version, info: await Info.ReadAsync(response));
        });
        var results = await Task.WhenAll(tasks).WaitAsync(Timeout);

        Assert.All(results, r => Assert.Equal(r.version == HttpVersion.Version20 ? "HTTP/2" : "HTTP/1.1", r.info.Protocol));
        server.AssertNoProblems();
    }

    [Theory]
    [InlineData("1.1", "HTTP/1.1")]
    [InlineData("2.0", "HTTP/2")]
    public async Task Post_body_round_trips(string version, string protocol)
    {
        await using var server = await H2cServer.StartAsync();
        using var client = new CountingClient();
        // Larger than the HTTP/2 flow-control windows, so both directions need WINDOW_UPDATEs.
        var body = RandomNumberGenerator.GetBytes(1024 * 1024 + 17);

        using var request = Request(HttpMethod.Post, new Uri(server.Uri, "/echo"), Version.Parse(version));
        request.Content = new ByteArrayContent(body);
        using var response = await client.Http.SendAsync(request).WaitAsync(Timeout);
        var echoed = await response.Content.ReadAsByteArrayAsync().WaitAsync(Timeout);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(protocol, response.Headers.GetValues("x-protocol").Single());
        Assert.Equal(body, echoed);
        server.AssertNoProblems();
    }

    [Fact]
    public async Task Configure_runs_for_both_endpoints_and_the_real_address_is_listed_first()
    {
        await using var server = await H2cServer.StartAsync();

        Assert.Equal(2, server.Listens.Count);
        var real = Assert.Single(server.Listens, l => l.IPEndPoint is not null);
        var handoff = Assert.Single(server.Listens, l => l.EndPoint is H2cHandoffEndPoint);
        Assert.Equal(HttpProtocols.Http1, real.Protocols);
        Assert.Equal(HttpProtocols.Http2, handoff.Protocols);

        var addresses = server.App.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.ToList();
        Assert.Equal([$"http://127.0.0.1:{server.Port}", $"http://h2c-handoff.invalid/127.0.0.1:{server.Port}"], addresses);
        Assert.All(addresses, a => Assert.True(Uri.TryCreate(a, UriKind.Absolute, out _), a));
    }

    [Fact]
    public async Task Preface_sent_in_pieces_over_a_raw_socket_gets_the_server_settings()
    {
        await using var server = await H2cServer.StartAsync();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(IPAddress.Loopback, server.Port).WaitAsync(Timeout);

        var preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();
        foreach (var piece in new[] { preface[..1], preface[1..5], preface[5..23], preface[23..] })
        {
            await socket.SendAsync(piece).WaitAsync(Timeout);
        }

        // An empty SETTINGS frame: length 0, type 4, flags 0, stream 0.
        await socket.SendAsync(new byte[] { 0, 0, 0, 4, 0, 0, 0, 0, 0 }).WaitAsync(Timeout);

        var header = new byte[9];
        await ReadExactlyAsync(socket, header);
        Assert.Equal(4, header[3]); // the server's SETTINGS frame
        Assert.Equal(0, header[4] & 1); // not an ACK: the server's own settings come first
        server.AssertNoProblems();
    }

    [Fact]
    public async Task Client_that_closes_without_sending_anything_is_let_go()
    {
        await using var server = await H2cServer.StartAsync();
        using (var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await socket.ConnectAsync(IPAddress.Loopback, server.Port).WaitAsync(Timeout);
            socket.Shutdown(SocketShutdown.Send);
            var buffer = new byte[16];
            Assert.Equal(0, await socket.ReceiveAsync(buffer).WaitAsync(Timeout));
        }

        // The port still serves both protocols.
        using var client = new CountingClient();
        using var response = await client.Http.SendAsync(Request(HttpMethod.Get, server.Uri, HttpVersion.Version20)).WaitAsync(Timeout);
        Assert.Equal("HTTP/2", (await Info.ReadAsync(response)).Protocol);
        server.AssertNoProblems();
    }

    [Fact]
    public async Task Stop_closes_h2c_http11_and_silent_connections_gracefully()
    {
        var server = await H2cServer.StartAsync();
        using var client = new CountingClient();
        using (var h2 = await client.Http.SendAsync(Request(HttpMethod.Get, server.Uri, HttpVersion.Version20)).WaitAsync(Timeout))
        using (var h1 = await client.Http.SendAsync(Request(HttpMethod.Get, server.Uri, HttpVersion.Version11)).WaitAsync(Timeout))
        {
            Assert.Equal("HTTP/2", (await Info.ReadAsync(h2)).Protocol);
            Assert.Equal("HTTP/1.1", (await Info.ReadAsync(h1)).Protocol);
        }

        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await silent.ConnectAsync(IPAddress.Loopback, server.Port).WaitAsync(Timeout);

        await server.DisposeAsync();

        // Kestrel logs this when it had to abort connections that did not close when asked to.
        Assert.DoesNotContain(server.Logs, l => l.EventName == "NotAllConnectionsClosedGracefully");
        Assert.Equal(0, await silent.ReceiveAsync(new byte[16]).WaitAsync(Timeout));
        server.AssertNoProblems();
    }

    [Fact]
    public async Task AddH2cHandoff_before_Kestrel_is_added_keeps_the_sockets_transport()
    {
        ListenOptions? real = null;
        using var host = new HostBuilder()
            .ConfigureServices(services => services.AddH2cHandoff())
            .ConfigureWebHost(web => web
                .UseKestrel(kestrel => kestrel.ListenHttp1AndH2c(new IPEndPoint(IPAddress.Loopback, 0), listen =>
                {
                    if (listen.EndPoint is IPEndPoint)
                    {
                        real = listen;
                    }
                }))
                .Configure(app => app.Run(context => context.Response.WriteAsync(context.Request.Protocol))))
            .Build();
        await host.StartAsync().WaitAsync(Timeout);
        try
        {
            var uri = new Uri($"http://127.0.0.1:{real!.IPEndPoint!.Port}/");
            using var client = new CountingClient();
            foreach (var (version, expected) in new[] { (HttpVersion.Version11, "HTTP/1.1"), (HttpVersion.Version20, "HTTP/2") })
            {
                using var response = await client.Http.SendAsync(Request(HttpMethod.Get, uri, version)).WaitAsync(Timeout);
                Assert.Equal(expected, await response.Content.ReadAsStringAsync().WaitAsync(Timeout));
            }
        }
        finally
        {
            await host.StopAsync().WaitAsync(Timeout);
        }
    }

    [Fact]
    public void ListenHttp1AndH2c_without_AddH2cHandoff_fails_with_a_clear_message()
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.ListenHttp1AndH2c(new IPEndPoint(IPAddress.Loopback, 0)));

        // Building the application already resolves the server and so configures Kestrel.
        var ex = Assert.Throws<InvalidOperationException>(() => builder.Build());
        Assert.Contains(nameof(H2cHandoffExtensions.AddH2cHandoff), ex.Message, StringComparison.Ordinal);
    }

    private static HttpRequestMessage Request(HttpMethod method, Uri uri, Version version) => new(method, uri)
    {
        Version = version,
        VersionPolicy = HttpVersionPolicy.RequestVersionExact,
    };

    private static async Task ReadExactlyAsync(Socket socket, byte[] buffer)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(read)).AsTask().WaitAsync(Timeout);
            Assert.NotEqual(0, n);
            read += n;
        }
    }

    private sealed record Info(string Protocol, string Scheme, string RemoteIp, int LocalPort, string ConnectionId, string ListenerTag)
    {
        public static string Describe(HttpContext context) => string.Join('\n',
            context.Request.Protocol,
            context.Request.Scheme,
            context.Connection.RemoteIpAddress,
            context.Connection.LocalPort,
            context.Connection.Id,
            context.Features.Get<ListenerTag>()?.Name ?? "none");

        public static async Task<Info> ReadAsync(HttpResponseMessage response)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var parts = (await response.Content.ReadAsStringAsync().WaitAsync(Timeout)).Split('\n');
            return new Info(parts[0], parts[1], parts[2], int.Parse(parts[3]), parts[4], parts[5]);
        }
    }

    /// <summary>Set on each connection by the connection middleware given to ListenHttp1AndH2c.</summary>
    private sealed record ListenerTag(string Name);

    private sealed record LogEntry(string Category, LogLevel Level, string? EventName, string Message);

    private sealed class H2cServer : IAsyncDisposable
    {
        private readonly TaskCompletionSource _barrier = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _arrivals;
        private bool _disposed;

        private H2cServer(WebApplication app, List<ListenOptions> listens, ConcurrentQueue<LogEntry> logs)
        {
            App = app;
            Listens = listens;
            Logs = logs;
        }

        public WebApplication App { get; }

        public List<ListenOptions> Listens { get; }

        public ConcurrentQueue<LogEntry> Logs { get; }

        public int Port => Listens.Single(l => l.IPEndPoint is not null).IPEndPoint!.Port;

        public Uri Uri => new($"http://127.0.0.1:{Port}/");

        public static async Task<H2cServer> StartAsync()
        {
            var logs = new ConcurrentQueue<LogEntry>();
            var listens = new List<ListenOptions>();
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
            builder.Configuration.Sources.Clear();
            builder.Logging.ClearProviders();
            builder.Logging.SetMinimumLevel(LogLevel.Debug);
            builder.Logging.AddProvider(new CollectingLoggerProvider(logs));
            builder.Services.AddH2cHandoff();
            builder.WebHost.ConfigureKestrel(kestrel =>
            {
                kestrel.Limits.MaxRequestBodySize = null;
                kestrel.ListenHttp1AndH2c(new IPEndPoint(IPAddress.Loopback, 0), listen =>
                {
                    listens.Add(listen);
                    var tag = new ListenerTag(listen.EndPoint is H2cHandoffEndPoint ? "handoff" : "tcp");
                    listen.Use(next => connection =>
                    {
                        connection.Features.Set(tag);
                        return next(connection);
                    });
                });
            });

            var app = builder.Build();
            var server = new H2cServer(app, listens, logs);
            app.Run(server.HandleAsync);
            await app.StartAsync().WaitAsync(Timeout);
            return server;
        }

        public void AssertNoProblems() =>
            Assert.DoesNotContain(Logs, l => l.Level >= LogLevel.Warning);

        public async ValueTask DisposeAsync()
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            await App.StopAsync().WaitAsync(Timeout);
            await App.DisposeAsync().AsTask().WaitAsync(Timeout);
        }

        private async Task HandleAsync(HttpContext context)
        {
            context.Response.Headers["x-protocol"] = context.Request.Protocol;
            switch (context.Request.Path.Value)
            {
                case "/echo":
                    // Read it all before answering: an echo that streams back while the client is still sending
                    // deadlocks HttpClient over HTTP/2 even on a plain Kestrel HTTP/2 endpoint.
                    using (var body = new MemoryStream())
                    {
                        await context.Request.Body.CopyToAsync(body, context.RequestAborted);
                        await context.Response.Body.WriteAsync(body.GetBuffer().AsMemory(0, (int)body.Length), context.RequestAborted);
                    }

                    return;
                case "/barrier":
                    var expected = int.Parse(context.Request.Query["n"].ToString());
                    if (Interlocked.Increment(ref _arrivals) == expected)
                    {
                        _barrier.TrySetResult();
                    }

                    await _barrier.Task.WaitAsync(Timeout, context.RequestAborted);
                    break;
            }

            await context.Response.WriteAsync(Info.Describe(context), context.RequestAborted);
        }
    }

    /// <summary>An HttpClient that counts the TCP connections it opens.</summary>
    private sealed class CountingClient : IDisposable
    {
        private int _connections;

        public CountingClient()
        {
            Http = new HttpClient(new SocketsHttpHandler
            {
                ConnectCallback = async (context, cancellationToken) =>
                {
                    Interlocked.Increment(ref _connections);
                    var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    try
                    {
                        await socket.ConnectAsync(context.DnsEndPoint, cancellationToken).AsTask().WaitAsync(Timeout, cancellationToken);
                        return new NetworkStream(socket, ownsSocket: true);
                    }
                    catch
                    {
                        socket.Dispose();
                        throw;
                    }
                },
            })
            { Timeout = Timeout };
        }

        public HttpClient Http { get; }

        public int Connections => Volatile.Read(ref _connections);

        public void Dispose() => Http.Dispose();
    }

    private sealed class CollectingLoggerProvider(ConcurrentQueue<LogEntry> logs) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Logger(categoryName, logs);

        public void Dispose()
        {
        }

        private sealed class Logger(string category, ConcurrentQueue<LogEntry> logs) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                logs.Enqueue(new LogEntry(category, logLevel, eventId.Name, formatter(state, exception) + (exception is null ? "" : " " + exception)));
        }
    }
}
