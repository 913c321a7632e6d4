using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Putsh.Connector.Tests.V3;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Connector.Tests;

/// <summary>What the backend received, copied out of the request before the response was written.</summary>
internal sealed record SeenRequest(
    string Method,
    string RawTarget,
    IReadOnlyDictionary<string, string[]> Headers,
    long? ContentLength,
    bool CanHaveBody,
    byte[] Body)
{
    public string? Header(string name) => Headers.TryGetValue(name, out var values) ? values.Single() : null;
}

/// <summary>
/// The connector's side of cranker_1.0 (§1.2, §1.9, §2.1, §2.2, §2.6, §4), checked byte by byte against a fake
/// router whose sockets the test drives by hand and a real Kestrel backend.
/// </summary>
public sealed class ConnectorV1Tests(ITestOutputHelper output)
{
    private const string Route = "my-app";

    private const string GoldenRequestHead =
        "POST /my-app/upload?x=1&x=2 HTTP/1.1\nHost:router:8443\nContent-Length:5\nContent-Type:text/plain\nvia:HTTP/1.1 muc\n"
        + "forwarded:by=10.0.0.4;for=127.0.0.1;host=\"router:8443\";proto=https\n\n_1";

    [Fact]
    public async Task Registration_request_carries_path_query_headers_and_subprotocol_and_opens_the_window_on_each_router()
    {
        await using var backend = await TestBackend.StartAsync(app => app.Run(_ => Task.CompletedTask), output);
        await using var router1 = await FakeRouter.StartAsync(output);
        await using var router2 = await FakeRouter.StartAsync(output);
        var connector = await TestConnector.StartAsync(
            [router1.RegisterUri, router2.RegisterUri],
            Route,
            backend.Uri,
            output,
            o =>
            {
                o.InstanceId = "instance 1+2/ü";
                o.ComponentName = "my component&x=y";
            },
            sockets: 3);
        await using var connectorTeardown = new ConnectorDisposer(connector);

        foreach (var router in new[] { router1, router2 })
        {
            var sockets = await router.NextSocketsAsync(3);
            foreach (var socket in sockets)
            {
                var h = socket.Handshake;
                Assert.Equal("/register/", h.Path);

                // Form encoding with %20 for spaces (§1.2); reserved characters and UTF-8 percent-encoded.
                Assert.Equal("?connectorInstanceID=instance%201%2B2%2F%C3%BC&componentName=my%20component%26x%3Dy", h.QueryString);
                Assert.Equal("instance 1+2/ü", h.Query["connectorInstanceID"]);
                Assert.Equal("my component&x=y", h.Query["componentName"]);
                Assert.Equal(2, h.Query.Count);

                Assert.Equal("1.0", h.CrankerProtocol);
                Assert.Equal(Route, h.Route);
                Assert.Equal("*", h.Domain);
                Assert.Contains("cranker_1.0", h.RequestedSubProtocols);
                Assert.Equal("cranker_1.0", h.AcceptedSubProtocol);
                Assert.Equal(WebSocketState.Open, socket.WebSocket.State);
            }
        }

        // Exactly the window: no fourth socket on either router.
        Assert.Null(await router1.SocketWithinAsync(TimeSpan.FromMilliseconds(300)));
        Assert.False(router2.TryTakeSocket(out _));
        Assert.Equal(3, router1.AcceptedCount);
        Assert.Equal(3, router2.AcceptedCount);

        var status = connector.Routers;
        Assert.Equal(2, status.Count);
        Assert.All(status, r =>
        {
            Assert.Equal(3, r.IdleSockets);
            Assert.Equal(0, r.BusySockets);
            Assert.Equal("cranker_1.0", r.Protocol);
        });
    }

    [Fact]
    public async Task Golden_request_reaches_the_backend_exactly_and_the_response_comes_back_as_head_binary_and_close_1000()
    {
        var seen = new TaskCompletionSource<SeenRequest>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await TestBackend.StartAsync(
            app => app.Run(async context =>
            {
                seen.TrySetResult(await RecordAsync(context));
                context.Response.StatusCode = 200;
                context.Response.ContentType = "text/plain;charset=utf-8";
                context.Response.ContentLength = 5;
                await context.Response.Body.WriteAsync("hello"u8.ToArray());
            }),
            output);
        await using var router = await FakeRouter.StartAsync(output);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, sockets: 2);
        await using var connectorTeardown = new ConnectorDisposer(connector);
        var sockets = await router.NextSocketsAsync(2);

        var socket = sockets[0];
        await socket.SendTextAsync(GoldenRequestHead);
        await socket.SendBinaryAsync("hello"u8.ToArray());
        await socket.SendTextAsync("_3");

        var request = await seen.Task.DefaultTimeout();
        Assert.Equal("POST", request.Method);
        Assert.Equal("/my-app/upload?x=1&x=2", request.RawTarget);
        Assert.Equal("router:8443", request.Header("Host"));
        Assert.Equal(5, request.ContentLength);
        Assert.Equal("5", request.Header("Content-Length"));
        Assert.Equal("text/plain", request.Header("Content-Type"));
        Assert.Equal("HTTP/1.1 muc", request.Header("Via"));
        Assert.Equal("by=10.0.0.4;for=127.0.0.1;host=\"router:8443\";proto=https", request.Header("Forwarded"));
        Assert.Equal("hello", Encoding.UTF8.GetString(request.Body));
        Assert.Null(request.Header("Transfer-Encoding"));

        // jconn adds no cranker-specific headers (§2.6): exactly the forwarded set reaches the backend.
        Assert.Equal(
            ["content-length", "content-type", "forwarded", "host", "via"],
            request.Headers.Keys.Select(k => k.ToLowerInvariant()).Order(StringComparer.Ordinal));

        var reply = await socket.ReadReplyAsync();
        output.WriteLine("response head: " + reply.Messages[0].Text.Replace("\n", "\\n", StringComparison.Ordinal));
        Assert.Equal(WebSocketMessageType.Text, reply.Messages[0].Type);
        Assert.Single(reply.Texts);
        Assert.All(reply.Messages.Skip(1).SkipLast(1), m => Assert.Equal(WebSocketMessageType.Binary, m.Type));
        Assert.Equal(WebSocketMessageType.Close, reply.Close.Type);
        var lines = AssertWellFormedResponseHead(reply.Texts[0], 200);
        Assert.Contains("content-length:5", lines);
        Assert.Contains("content-type:text/plain;charset=utf-8", lines);
        Assert.Contains("server:Kestrel", lines);
        Assert.Single(lines, l => l.StartsWith("date:", StringComparison.Ordinal));
        Assert.Equal(["content-length", "content-type", "date", "server"], HeaderNames(lines).Order(StringComparer.Ordinal));
        Assert.Equal("hello"u8.ToArray(), reply.Body);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, reply.Close.CloseStatus);

        // The consumed socket is replaced at once (§1.7).
        var replacement = await router.NextSocketAsync();
        Assert.Equal("/register/", replacement.Handshake.Path);
        Assert.Equal(sockets[0].Handshake.QueryString, replacement.Handshake.QueryString);
        Assert.Equal(1, backend.RequestCount);
    }

    [Fact]
    public async Task Request_head_with_CRLF_and_spaced_headers_is_still_served()
    {
        var seen = new TaskCompletionSource<SeenRequest>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await TestBackend.StartAsync(
            app => app.Run(async context =>
            {
                seen.TrySetResult(await RecordAsync(context));
                await context.Response.WriteAsync("ok");
            }),
            output);
        await using var router = await FakeRouter.StartAsync(output);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, sockets: 1);
        await using var connectorTeardown = new ConnectorDisposer(connector);
        var socket = await router.NextSocketAsync();

        await socket.SendTextAsync("GET /my-app/lenient?a=b%20c HTTP/1.1\r\nHost: router:8443\r\nX-Custom: some value\r\nAccept:  text/html\r\n\r\n_2");

        var request = await seen.Task.DefaultTimeout();
        Assert.Equal("GET", request.Method);
        Assert.Equal("/my-app/lenient?a=b%20c", request.RawTarget);
        Assert.Equal("router:8443", request.Header("Host"));
        Assert.Equal("some value", request.Header("X-Custom"));
        Assert.Equal("text/html", request.Header("Accept"));
        Assert.Empty(request.Body);

        var reply = await socket.ReadReplyAsync();
        AssertWellFormedResponseHead(reply.Texts.Single(), 200);
        Assert.Equal("ok"u8.ToArray(), reply.Body);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, reply.Close.CloseStatus);
    }

    [Fact]
    public async Task Get_with_marker_2_is_forwarded_without_a_body_and_a_204_is_a_head_then_close_1000()
    {
        var seen = new TaskCompletionSource<SeenRequest>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await TestBackend.StartAsync(
            app => app.Run(async context =>
            {
                seen.TrySetResult(await RecordAsync(context));
                context.Response.StatusCode = StatusCodes.Status204NoContent;
            }),
            output);
        await using var router = await FakeRouter.StartAsync(output);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, sockets: 1);
        await using var connectorTeardown = new ConnectorDisposer(connector);
        var socket = await router.NextSocketAsync();

        await socket.SendTextAsync("GET /my-app/nobody HTTP/1.1\nHost:router:8443\n\n_2");

        var request = await seen.Task.DefaultTimeout();
        Assert.Equal("GET", request.Method);
        Assert.Equal("/my-app/nobody", request.RawTarget);
        Assert.False(request.CanHaveBody);
        Assert.Null(request.ContentLength);
        Assert.Null(request.Header("Content-Length"));
        Assert.Null(request.Header("Transfer-Encoding"));
        Assert.Empty(request.Body);

        var reply = await socket.ReadReplyAsync();
        Assert.Equal([WebSocketMessageType.Text, WebSocketMessageType.Close], reply.Sequence);
        var lines = AssertWellFormedResponseHead(reply.Texts[0], 204);
        Assert.DoesNotContain(lines, l => l.StartsWith("content-length:", StringComparison.Ordinal));
        Assert.Equal(WebSocketCloseStatus.NormalClosure, reply.Close.CloseStatus);
    }

    [Fact]
    public async Task Head_response_is_a_head_with_content_length_and_no_binary_frames_then_close_1000()
    {
        var seen = new TaskCompletionSource<SeenRequest>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await TestBackend.StartAsync(
            app => app.Run(async context =>
            {
                seen.TrySetResult(await RecordAsync(context));
                context.Response.ContentType = "text/plain";
                context.Response.ContentLength = 5;
            }),
            output);
        await using var router = await FakeRouter.StartAsync(output);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, sockets: 1);
        await using var connectorTeardown = new ConnectorDisposer(connector);
        var socket = await router.NextSocketAsync();

        await socket.SendTextAsync("HEAD /my-app/head HTTP/1.1\nHost:router:8443\n\n_2");

        var request = await seen.Task.DefaultTimeout();
        Assert.Equal("HEAD", request.Method);
        Assert.Empty(request.Body);

        var reply = await socket.ReadReplyAsync();
        Assert.Equal([WebSocketMessageType.Text, WebSocketMessageType.Close], reply.Sequence);
        var lines = AssertWellFormedResponseHead(reply.Texts[0], 200);
        Assert.Contains("content-length:5", lines);
        Assert.Contains("content-type:text/plain", lines);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, reply.Close.CloseStatus);
    }

    [Fact]
    public async Task Target_down_closes_the_socket_with_1011_and_a_short_reason_and_the_window_is_kept()
    {
        var closedPort = ClosedPort();
        await using var router = await FakeRouter.StartAsync(output);
        var connector = await TestConnector.StartAsync(
            [router.RegisterUri], Route, new Uri($"http://127.0.0.1:{closedPort}"), output, sockets: 2);
        await using var connectorTeardown = new ConnectorDisposer(connector);
        var sockets = await router.NextSocketsAsync(2);

        var socket = sockets[0];
        for (var round = 0; round < 2; round++)
        {
            await socket.SendTextAsync("GET /my-app/down HTTP/1.1\nHost:router:8443\n\n_2");
            var reply = await socket.ReadReplyAsync();

            output.WriteLine($"close: {reply.Close.CloseStatus} '{reply.Close.CloseDescription}'");
            Assert.Equal([WebSocketMessageType.Close], reply.Sequence);
            Assert.Equal(WebSocketCloseStatus.InternalServerError, reply.Close.CloseStatus);
            Assert.NotNull(reply.Close.CloseDescription);
            Assert.NotEmpty(reply.Close.CloseDescription);
            Assert.InRange(Encoding.UTF8.GetByteCount(reply.Close.CloseDescription), 1, 123);

            // Every consumed socket is replaced, failure or not: the next request rides the replacement.
            socket = await router.NextSocketAsync();
            Assert.Equal("/register/", socket.Handshake.Path);
        }

        await connector.WaitForIdleSocketsAsync(2, TestTimeouts.Token()).DefaultTimeout();
        var status = Assert.Single(connector.Routers);
        Assert.Equal(0, status.ConsecutiveFailures);
        Assert.Equal(4, router.AcceptedCount);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Router_closing_with_1001_mid_request_aborts_the_target_call(bool backendSentHead)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await TestBackend.StartAsync(
            app => app.Run(async context =>
            {
                // Not disposed on purpose: a disposed registration could be dropped before it ran, when the handler's
                // own cancellation continuation runs inline during the abort.
                context.RequestAborted.Register(() => aborted.TrySetResult());
                if (backendSentHead)
                {
                    await context.Response.StartAsync();
                    await context.Response.Body.FlushAsync();
                }

                started.TrySetResult();
                try
                {
                    await release.Task.WaitAsync(context.RequestAborted);
                    await context.Response.WriteAsync("too late");
                }
                catch (OperationCanceledException)
                {
                }
            }),
            output);
        await using var router = await FakeRouter.StartAsync(output);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, sockets: 1);
        await using var connectorTeardown = new ConnectorDisposer(connector);
        var socket = await router.NextSocketAsync();

        try
        {
            await socket.SendTextAsync("GET /my-app/slow HTTP/1.1\nHost:router:8443\n\n_2");
            await started.Task.DefaultTimeout();

            if (backendSentHead)
            {
                // The head is streamed as soon as the backend sends it (§2.6); the body is still pending.
                var head = await socket.ReceiveAsync();
                Assert.Equal(WebSocketMessageType.Text, head.Type);
                AssertWellFormedResponseHead(head.Text, 200);
            }

            await socket.CloseOutputAsync(WebSocketCloseStatus.EndpointUnavailable, "Going away");

            await aborted.Task.DefaultTimeout();

            // The connector answers the router's close and sends nothing else: no body, no 1011.
            var reply = await socket.ReadReplyAsync();
            Assert.Equal([WebSocketMessageType.Close], reply.Sequence);
            Assert.NotEqual(WebSocketCloseStatus.InternalServerError, reply.Close.CloseStatus);
        }
        finally
        {
            release.TrySetResult();
        }
    }

    [Fact]
    public async Task Idle_socket_closed_by_the_router_with_1001_gets_its_close_answered_and_is_replaced()
    {
        await using var backend = await TestBackend.StartAsync(app => app.Run(_ => Task.CompletedTask), output);
        await using var router = await FakeRouter.StartAsync(output);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, sockets: 1);
        await using var connectorTeardown = new ConnectorDisposer(connector);
        var socket = await router.NextSocketAsync();

        await socket.CloseOutputAsync(WebSocketCloseStatus.EndpointUnavailable, "Going away");
        var answer = await socket.ReceiveAsync();
        Assert.Equal(WebSocketMessageType.Close, answer.Type);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, answer.CloseStatus);
        socket.Release();

        var replacement = await router.NextSocketAsync();
        Assert.Equal("/register/", replacement.Handshake.Path);
        Assert.Equal(0, backend.RequestCount);
    }

    [Fact]
    public async Task StopAsync_deregisters_with_the_same_id_and_headers_and_returns_true()
    {
        await using var backend = await TestBackend.StartAsync(app => app.Run(_ => Task.CompletedTask), output);
        await using var router = await FakeRouter.StartAsync(output);
        var connector = await TestConnector.StartAsync(
            [router.RegisterUri], Route, backend.Uri, output, o => o.Domain = "api.example.com", sockets: 2);
        await using var connectorTeardown = new ConnectorDisposer(connector);
        var idle = await router.NextSocketsAsync(2);

        var stopping = connector.StopAsync();

        var deregister = await router.NextSocketAsync();
        var h = deregister.Handshake;
        Assert.Equal("/deregister/", h.Path);
        Assert.Equal(idle[0].Handshake.QueryString, h.QueryString);
        Assert.Equal(connector.InstanceId, h.Query["connectorInstanceID"]);
        Assert.Equal("1.0", h.CrankerProtocol);
        Assert.Equal(Route, h.Route);
        Assert.Equal("api.example.com", h.Domain);
        Assert.Empty(h.RequestedSubProtocols);

        // Router: close the instance's idle sockets with 1001, then the deregister socket with 1000 (§1.9 step 3).
        foreach (var socket in idle)
        {
            try
            {
                await socket.CloseOutputAsync(WebSocketCloseStatus.EndpointUnavailable, "Going away");
            }
            catch (WebSocketException)
            {
                // Already gone from the connector's side; covered by the idle-socket test below.
            }

            socket.Release();
        }

        await deregister.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "Deregister complete");
        var connectorClose = await deregister.ReceiveAsync();
        Assert.Equal(WebSocketMessageType.Close, connectorClose.Type);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, connectorClose.CloseStatus);
        deregister.Release();

        Assert.True(await stopping.DefaultTimeout());
        Assert.Null(await router.SocketWithinAsync(TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task StopAsync_leaves_idle_sockets_open_until_the_router_closes_them_with_1001_and_answers_that_close()
    {
        await using var backend = await TestBackend.StartAsync(app => app.Run(_ => Task.CompletedTask), output);
        await using var router = await FakeRouter.StartAsync(output);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, sockets: 2);
        await using var connectorTeardown = new ConnectorDisposer(connector);
        var idle = await router.NextSocketsAsync(2);

        var stopping = connector.StopAsync();
        var deregister = await router.NextSocketAsync();
        Assert.Equal("/deregister/", deregister.Handshake.Path);

        // While the router handles the deregistration, the idle sockets must still be usable: the router may
        // have handed one a request a moment ago. Closing them is the router's job (§1.9 step 3, step 4).
        foreach (var socket in idle)
        {
            await socket.CloseOutputAsync(WebSocketCloseStatus.EndpointUnavailable, "Going away");
            var answer = await socket.ReceiveAsync();
            Assert.Equal(WebSocketMessageType.Close, answer.Type);
            socket.Release();
        }

        await deregister.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "Deregister complete");
        await deregister.ReceiveAsync();
        deregister.Release();
        Assert.True(await stopping.DefaultTimeout());
    }

    [Fact]
    public async Task An_18_KB_response_header_arrives_intact_and_two_set_cookies_are_two_lines()
    {
        var big = string.Concat(Enumerable.Range(0, 18 * 1024).Select(i => (char)('a' + (i % 26))));
        await using var backend = await TestBackend.StartAsync(
            app => app.Run(async context =>
            {
                context.Response.Headers["X-Big"] = big;
                context.Response.Headers.Append("Set-Cookie", "a=1; Path=/");
                context.Response.Headers.Append("Set-Cookie", "b=2; HttpOnly");
                await context.Response.WriteAsync("done");
            }),
            output);
        await using var router = await FakeRouter.StartAsync(output);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, sockets: 1);
        await using var connectorTeardown = new ConnectorDisposer(connector);
        var socket = await router.NextSocketAsync();

        await socket.SendTextAsync("GET /my-app/headers HTTP/1.1\nHost:router:8443\n\n_2");

        var reply = await socket.ReadReplyAsync();
        var head = reply.Texts.Single();
        var lines = AssertWellFormedResponseHead(head, 200);
        Assert.Contains("x-big:" + big, lines);
        Assert.Equal(["set-cookie:a=1; Path=/", "set-cookie:b=2; HttpOnly"], lines.Where(l => l.StartsWith("set-cookie:", StringComparison.Ordinal)));
        Assert.Equal("done"u8.ToArray(), reply.Body);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, reply.Close.CloseStatus);
    }

    [Fact]
    public async Task A_10_MiB_response_body_arrives_byte_exact_in_frames_of_at_most_64_KiB_then_close_1000()
    {
        var payload = new byte[10 * 1024 * 1024];
        new Random(20260303).NextBytes(payload);
        await using var backend = await TestBackend.StartAsync(
            app => app.Run(async context =>
            {
                context.Response.ContentType = "application/octet-stream";
                context.Response.ContentLength = payload.Length;
                for (var offset = 0; offset < payload.Length; offset += 100_000)
                {
                    await context.Response.Body.WriteAsync(payload.AsMemory(offset, Math.Min(100_000, payload.Length - offset)));
                }
            }),
            output);
        await using var router = await FakeRouter.StartAsync(output);
        var connector = await TestConnector.StartAsync(
            [router.RegisterUri], Route, backend.Uri, output, o => o.BodyBufferSize = 65536, sockets: 1);
        await using var connectorTeardown = new ConnectorDisposer(connector);
        var socket = await router.NextSocketAsync();

        await socket.SendTextAsync("GET /my-app/big HTTP/1.1\nHost:router:8443\n\n_2");

        var reply = await socket.ReadReplyAsync();
        Assert.Equal(WebSocketMessageType.Text, reply.Messages[0].Type);
        Assert.Contains($"content-length:{payload.Length}", AssertWellFormedResponseHead(reply.Messages[0].Text, 200));
        Assert.All(reply.Messages.Skip(1).SkipLast(1), m => Assert.Equal(WebSocketMessageType.Binary, m.Type));
        Assert.All(reply.BinaryMessages, b => Assert.InRange(b.Length, 0, 65536));
        var body = reply.Body;
        Assert.Equal(payload.Length, body.Length);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(payload)), Convert.ToHexString(SHA256.HashData(body)));
        Assert.Equal(WebSocketCloseStatus.NormalClosure, reply.Close.CloseStatus);
    }

    [Fact]
    public async Task DisposeAsync_with_idle_sockets_does_not_throw()
    {
        // A race, so it is tried many times. Before b515967, Dispose cancelled the token the idle sockets received
        // with; they then finished and were disposed on the thread pool while Dispose was still walking them to abort
        // each one, and ConnectorSocketV1.Abort threw ObjectDisposedException.
        await using var router = await FakeRouter.StartAsync();
        var target = new Uri($"http://127.0.0.1:{ClosedPort()}");
        for (var round = 0; round < 300; round++)
        {
            var connector = await TestConnector.StartAsync([router.RegisterUri], Route, target, sockets: 16);
            await connector.DisposeAsync().AsTask().DefaultTimeout();
        }
    }

    private static async Task<SeenRequest> RecordAsync(HttpContext context)
    {
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body);
        return new SeenRequest(
            context.Request.Method,
            context.Features.Get<IHttpRequestFeature>()!.RawTarget,
            context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.Select(v => v ?? "").ToArray(), StringComparer.OrdinalIgnoreCase),
            context.Request.ContentLength,
            context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody ?? true,
            body.ToArray());
    }

    /// <summary>
    /// Checks §2.2 to the byte: <c>HTTP/1.1 status reason</c>, then lowercase <c>name:value</c> lines, LF only, no CR
    /// anywhere, no blank line at the end. Returns the header lines.
    /// </summary>
    private static List<string> AssertWellFormedResponseHead(string head, int status)
    {
        Assert.DoesNotContain('\r', head);
        Assert.StartsWith($"HTTP/1.1 {status} ", head, StringComparison.Ordinal);
        Assert.EndsWith("\n", head, StringComparison.Ordinal);
        Assert.False(head.EndsWith("\n\n", StringComparison.Ordinal), "the response head must not end with a blank line");
        var lines = head[..^1].Split('\n');
        var headers = lines.Skip(1).ToList();
        foreach (var line in headers)
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            Assert.True(colon > 0, $"header line without a name: '{line}'");
            var name = line[..colon];
            Assert.Equal(name.ToLowerInvariant(), name);
            Assert.DoesNotContain(' ', name);
            Assert.False(line.Length > colon + 1 && line[colon + 1] == ' ', $"space after the colon: '{line}'");
        }

        return headers;
    }

    private static IEnumerable<string> HeaderNames(IEnumerable<string> lines) => lines.Select(l => l[..l.IndexOf(':', StringComparison.Ordinal)]);

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
