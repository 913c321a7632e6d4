using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Connector.Tests.V3;

/// <summary>Which protocols the fake router speaks, and how it answers the handshake.</summary>
internal enum FakeRouterProtocols
{
    /// <summary>A current mu router: supports 1.0 and 3.0 and picks the connector's first supported choice (§1.3).</summary>
    Both,

    /// <summary>A mu router configured for 1.0 only: echoes <c>cranker_1.0</c> when it was offered.</summary>
    V1Only,

    /// <summary>A pre-3.0 router (crank4j era): accepts on <c>CrankerProtocol: 1.0</c> and returns no subprotocol.</summary>
    V1WithoutSubProtocol,
}

/// <summary>
/// A stand-in router for cranker_3.0 connector tests: a real Kestrel server that negotiates the subprotocol the way
/// mu-cranker-router does (§1.3), records every handshake, and hands each accepted socket to the test, which plays
/// the router's side of the wire protocol message by message.
/// </summary>
internal sealed class V3FakeRouter : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Channel<RouterSocket> _accepted;
    private readonly ConcurrentQueue<RouterSocket> _all;
    private readonly TaskCompletionSource _closing;

    private V3FakeRouter(WebApplication app, Channel<RouterSocket> accepted, ConcurrentQueue<RouterSocket> all, TaskCompletionSource closing, Uri registerUri)
    {
        _app = app;
        _accepted = accepted;
        _all = all;
        _closing = closing;
        RegisterUri = registerUri;
    }

    public Uri RegisterUri { get; }

    /// <summary>Sockets accepted so far, registrations and deregistrations alike.</summary>
    public int AcceptedCount => _all.Count;

    public static async Task<V3FakeRouter> StartAsync(ITestOutputHelper? output = null, FakeRouterProtocols protocols = FakeRouterProtocols.Both)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        if (output is not null)
        {
            builder.Logging.AddProvider(new XunitLoggerProvider(output, "fake-v3-router"));
            builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        }

        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        var app = builder.Build();
        var accepted = Channel.CreateUnbounded<RouterSocket>();
        var all = new ConcurrentQueue<RouterSocket>();
        var closing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        app.UseWebSockets();
        app.Run(async context =>
        {
            var path = context.Request.Path.Value;
            if (path is not ("/register" or "/register/" or "/deregister" or "/deregister/") || !context.WebSockets.IsWebSocketRequest)
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }

            var requested = context.WebSockets.WebSocketRequestedProtocols.ToList();
            var legacy = context.Request.Headers["CrankerProtocol"].ToString();
            var version = Negotiate(requested, legacy, protocols);
            if (version is null)
            {
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                return;
            }

            var name = "cranker_" + version;
            var subProtocol = protocols != FakeRouterProtocols.V1WithoutSubProtocol && requested.Contains(name, StringComparer.OrdinalIgnoreCase)
                ? name
                : null;
            if (version == "1.0")
            {
                context.Response.Headers["CrankerProtocol"] = "1.0";
            }

            var handshake = new Handshake(
                path,
                context.Request.QueryString.Value ?? "",
                context.Request.Query.ToDictionary(q => q.Key, q => q.Value.ToString(), StringComparer.Ordinal),
                context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.Select(v => v ?? "").ToArray(), StringComparer.OrdinalIgnoreCase),
                requested,
                subProtocol);
            var webSocket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext { SubProtocol = subProtocol });
            var socket = new RouterSocket(handshake, webSocket);
            all.Enqueue(socket);
            accepted.Writer.TryWrite(socket);

            // The socket lives as long as this request: until the test has finished with it or the router stops.
            await Task.WhenAny(socket.Released, closing.Task);
            if (!socket.Released.IsCompleted)
            {
                webSocket.Abort();
            }
        });
        await app.StartAsync().DefaultTimeout();
        var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return new V3FakeRouter(app, accepted, all, closing, new Uri($"ws://{address.Authority}"));
    }

    /// <summary>mu's rule (§1.3): the connector's order wins; the legacy header is the fallback for 1.0.</summary>
    private static string? Negotiate(List<string> requested, string legacy, FakeRouterProtocols protocols)
    {
        string[] supported = protocols == FakeRouterProtocols.Both ? ["1.0", "3.0"] : ["1.0"];
        if (protocols != FakeRouterProtocols.V1WithoutSubProtocol)
        {
            foreach (var token in requested)
            {
                var version = token.Trim().ToLowerInvariant().Replace("cranker_", "", StringComparison.Ordinal);
                if (supported.Contains(version))
                {
                    return version;
                }
            }
        }

        return legacy == "1.0" ? "1.0" : null;
    }

    /// <summary>The next socket the connector opened (registration or deregistration), in order of acceptance.</summary>
    public Task<RouterSocket> NextSocketAsync([CallerFilePath] string file = "", [CallerLineNumber] int line = 0) =>
        _accepted.Reader.ReadAsync().AsTask().DefaultTimeout(file, line);

    /// <summary>The next registration socket, which must have negotiated cranker_3.0, driven as a v3 peer.</summary>
    public async Task<V3Peer> NextPeerAsync([CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        var socket = await NextSocketAsync(file, line);
        Assert.Equal("/register/", socket.Handshake.Path);
        Assert.Equal("cranker_3.0", socket.Handshake.AcceptedSubProtocol);
        return new V3Peer(socket);
    }

    public async Task<V3Peer[]> NextPeersAsync(int count, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        var peers = new V3Peer[count];
        for (var i = 0; i < count; i++)
        {
            peers[i] = await NextPeerAsync(file, line);
        }

        return peers;
    }

    /// <summary>True when a socket is already waiting (no waiting).</summary>
    public bool TryTakeSocket(out RouterSocket? socket) => _accepted.Reader.TryRead(out socket);

    public async ValueTask DisposeAsync()
    {
        _closing.TrySetResult();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await _app.StopAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
        }

        await _app.DisposeAsync();
    }
}
