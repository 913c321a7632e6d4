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

using Putsh.Connector.Tests.V3;

namespace Putsh.Connector.Tests;

/// <summary>What a connector sent when it opened a socket to the fake router.</summary>
/// <param name="Path">The request path, e.g. <c>/register/</c>.</param>
/// <param name="QueryString">The raw query string, with its leading <c>?</c>, still percent-encoded.</param>
/// <param name="Query">The decoded query parameters (first value of each).</param>
/// <param name="Headers">Every request header, by name (case-insensitive).</param>
/// <param name="RequestedSubProtocols">The tokens of <c>Sec-WebSocket-Protocol</c>, in the connector's order.</param>
/// <param name="AcceptedSubProtocol">What the fake router answered, or null for no subprotocol.</param>
internal sealed record Handshake(
    string Path,
    string QueryString,
    IReadOnlyDictionary<string, string> Query,
    IReadOnlyDictionary<string, string[]> Headers,
    IReadOnlyList<string> RequestedSubProtocols,
    string? AcceptedSubProtocol)
{
    public string? CrankerProtocol => Header("CrankerProtocol");

    public string? Route => Header("Route");

    public string? Domain => Header("Domain");

    /// <summary>The single value of <paramref name="name"/>; null when absent; throws when it was sent more than once.</summary>
    public string? Header(string name) => Headers.TryGetValue(name, out var values) ? values.Single() : null;
}

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
/// A stand-in for a cranker_1.0 router: a real Kestrel server that accepts <c>/register</c> and <c>/deregister</c>
/// WebSockets the way mu-cranker-router does (§1.3) and hands every accepted socket to the test, which then plays the
/// router's side of the wire protocol frame by frame.
/// </summary>
internal sealed class FakeRouter : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Channel<RouterSocket> _accepted;
    private readonly ConcurrentQueue<RouterSocket> _all;
    private readonly TaskCompletionSource _closing;

    private FakeRouter(WebApplication app, Channel<RouterSocket> accepted, ConcurrentQueue<RouterSocket> all, TaskCompletionSource closing, Uri registerUri)
    {
        _app = app;
        _accepted = accepted;
        _all = all;
        _closing = closing;
        RegisterUri = registerUri;
    }

    /// <summary>The address a connector is configured with: <c>ws://127.0.0.1:port</c>.</summary>
    public Uri RegisterUri { get; }

    /// <summary>Sockets accepted so far (registrations and deregistrations).</summary>
    public int AcceptedCount => _all.Count;

    /// <param name="output">Where the fake router logs.</param>
    /// <param name="protocols">The protocols it speaks.</param>
    /// <param name="answerExtensions">A <c>Putsh-Extensions</c> value to answer every cranker_3.0 registration with, if any.</param>
    public static async Task<FakeRouter> StartAsync(ITestOutputHelper? output = null, FakeRouterProtocols protocols = FakeRouterProtocols.V1Only, string? answerExtensions = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        if (output is not null)
        {
            builder.Logging.AddProvider(new XunitLoggerProvider(output, "fake-router"));
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
                // §1.3: no usable protocol offered; the Rust router answers 400.
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                return;
            }

            var name = "cranker_" + version;
            var subProtocol = protocols != FakeRouterProtocols.V1WithoutSubProtocol && requested.Contains(name, StringComparer.OrdinalIgnoreCase)
                ? name
                : null;
            var handshake = new Handshake(
                path,
                context.Request.QueryString.Value ?? "",
                context.Request.Query.ToDictionary(q => q.Key, q => q.Value.ToString(), StringComparer.Ordinal),
                context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.Select(v => v ?? "").ToArray(), StringComparer.OrdinalIgnoreCase),
                requested,
                subProtocol);

            // A cranker_1.0 answer carries the legacy header; the subprotocol is echoed only if it was requested.
            if (version == "1.0")
            {
                context.Response.Headers["CrankerProtocol"] = "1.0";
            }
            else if (answerExtensions is not null)
            {
                context.Response.Headers["Putsh-Extensions"] = answerExtensions;
            }

            var webSocket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext { SubProtocol = subProtocol });
            var socket = new RouterSocket(handshake, webSocket);
            all.Enqueue(socket);
            accepted.Writer.TryWrite(socket);

            // Keep the request (and so the WebSocket) alive until the test is done with it, or the router stops;
            // a socket accepted while the router was stopping is covered too.
            await Task.WhenAny(socket.Released, closing.Task);
            if (!socket.Released.IsCompleted)
            {
                webSocket.Abort();
            }
        });
        await app.StartAsync().DefaultTimeout();
        var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return new FakeRouter(app, accepted, all, closing, new Uri($"ws://{address.Authority}"));
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

    /// <summary>The next socket the connector opened, in the order they were accepted.</summary>
    public Task<RouterSocket> NextSocketAsync([CallerFilePath] string file = "", [CallerLineNumber] int line = 0) =>
        _accepted.Reader.ReadAsync().AsTask().DefaultTimeout(file, line);

    /// <summary>Takes <paramref name="count"/> sockets.</summary>
    public async Task<RouterSocket[]> NextSocketsAsync(int count, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        var sockets = new RouterSocket[count];
        for (var i = 0; i < count; i++)
        {
            sockets[i] = await NextSocketAsync(file, line);
        }

        return sockets;
    }

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

    /// <summary>True when a socket is already waiting in the channel (no waiting).</summary>
    public bool TryTakeSocket(out RouterSocket? socket) => _accepted.Reader.TryRead(out socket);

    /// <summary>Waits up to <paramref name="window"/> for another socket; null when none came (for "no more sockets" checks).</summary>
    public async Task<RouterSocket?> SocketWithinAsync(TimeSpan window)
    {
        try
        {
            // WaitToReadAsync consumes nothing, so a wait that times out cannot swallow a later socket.
            await _accepted.Reader.WaitToReadAsync().AsTask().WaitAsync(window);
        }
        catch (TimeoutException)
        {
            return null;
        }

        return _accepted.Reader.TryRead(out var socket) ? socket : null;
    }

    public async ValueTask DisposeAsync()
    {
        // Every handler still holding a socket aborts it and returns.
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
