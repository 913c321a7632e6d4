using System.Net;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Putsh.Protocol.Channels;
using Putsh.Cli.Tests;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.FunctionalTests;

/// <summary>Client WebSockets carried end to end over cranker_3.0 with the putsh websocket extension.</summary>
public sealed class WebSocketTunnelTests(ITestOutputHelper output)
{
    private readonly TaskCompletionSource<(WebSocketCloseStatus? Status, string? Reason)> _backendSawClose = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<Dictionary<string, string>> _backendHeaders = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<string?> _backendSubProtocol = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private Task<TestBackend> StartBackendAsync() => TestBackend.StartAsync(app =>
    {
        app.UseWebSockets();
        app.Map("/echo/echo", EchoAsync);
        app.Map("/echo/slow", SlowEchoAsync);
        app.Map("/echo/close-me", CloseMeAsync);
        app.Map("/echo/flood", FloodAsync);
        app.Map("/echo/refuse", context =>
        {
            context.Response.StatusCode = 403;
            return Task.CompletedTask;
        });
    }, output);

    private async Task EchoAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = 400;
            return;
        }

        _backendHeaders.TrySetResult(context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString()));
        var requested = context.WebSockets.WebSocketRequestedProtocols;
        var sub = requested.Count > 0 ? requested[0] : null;
        _backendSubProtocol.TrySetResult(sub);
        using var ws = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext { SubProtocol = sub });
        var buffer = new byte[100_000];
        while (true)
        {
            var result = await ws.ReceiveAsync(buffer, CancellationToken.None);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                _backendSawClose.TrySetResult((ws.CloseStatus, ws.CloseStatusDescription));
                await ws.CloseAsync(ws.CloseStatus ?? WebSocketCloseStatus.NormalClosure, ws.CloseStatusDescription, CancellationToken.None);
                return;
            }

            await ws.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, CancellationToken.None);
        }
    }

    private static async Task SlowEchoAsync(HttpContext context)
    {
        using var ws = await context.WebSockets.AcceptWebSocketAsync();
        var buffer = new byte[1024];
        var result = await ws.ReceiveAsync(buffer, CancellationToken.None);

        // The client's keep-alive pings must be answered meanwhile.
        await Task.Delay(TimeSpan.FromMilliseconds(1500));
        await ws.SendAsync(buffer.AsMemory(0, result.Count), WebSocketMessageType.Text, true, CancellationToken.None);
        result = await ws.ReceiveAsync(buffer, CancellationToken.None);
        await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
    }

    private const int FloodMessages = 100;

    private long _flooded;

    private async Task FloodAsync(HttpContext context)
    {
        using var ws = await context.WebSockets.AcceptWebSocketAsync();
        var message = new byte[1024 * 1024];
        for (var i = 0; i < FloodMessages; i++)
        {
            message[0] = (byte)i;
            await ws.SendAsync(message, WebSocketMessageType.Binary, true, CancellationToken.None);
            Interlocked.Add(ref _flooded, message.Length);
        }

        await ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "flooded", CancellationToken.None);
        var buffer = new byte[16];
        while ((await ws.ReceiveAsync(buffer, CancellationToken.None)).MessageType != WebSocketMessageType.Close)
        {
        }
    }

    private static async Task CloseMeAsync(HttpContext context)
    {
        using var ws = await context.WebSockets.AcceptWebSocketAsync();
        var buffer = new byte[1024];
        await ws.ReceiveAsync(buffer, CancellationToken.None);
        await ws.CloseOutputAsync((WebSocketCloseStatus)4002, "server bye", CancellationToken.None);
        while ((await ws.ReceiveAsync(buffer, CancellationToken.None)).MessageType != WebSocketMessageType.Close)
        {
        }
    }

    private static Uri WsUri(TestRouter router, string path) => new($"ws://{router.ClientUri.Authority}{path}");

    private static async Task<(WebSocketMessageType Type, byte[] Data)> ReceiveMessageAsync(WebSocket ws)
    {
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        while (true)
        {
            var result = await ws.ReceiveAsync(buffer, TestTimeouts.Token()).DefaultTimeout();
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return (result.MessageType, []);
            }

            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                return (result.MessageType, message.ToArray());
            }
        }
    }

    [Fact]
    public async Task A_client_WebSocket_over_HTTP2_extended_CONNECT_is_tunnelled_too()
    {
        await using var router = await CliTestRouter.StartAsync(output);
        await using var backend = await StartBackendAsync();
        await using var connector = await TestConnector.StartAsync(router, "echo", backend, output, TestConnector.V3Only);

        // RFC 8441 over cleartext HTTP/2 with prior knowledge, which the router's client listener speaks.
        using var handler = new SocketsHttpHandler();
        using var invoker = new HttpMessageInvoker(handler);
        using var ws = new ClientWebSocket();
        ws.Options.HttpVersion = System.Net.HttpVersion.Version20;
        ws.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        ws.Options.AddSubProtocol("chat.v1");
        await ws.ConnectAsync(WsUri(router, "/echo/echo"), invoker, TestTimeouts.Token()).DefaultTimeout();
        Assert.Equal("chat.v1", ws.SubProtocol);

        var data = new byte[100_000];
        new Random(7).NextBytes(data);
        await ws.SendAsync(data, WebSocketMessageType.Binary, true, TestTimeouts.Token()).DefaultTimeout();
        var (type, echoed) = await ReceiveMessageAsync(ws);
        Assert.Equal(WebSocketMessageType.Binary, type);
        Assert.Equal(data, echoed);
        await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", TestTimeouts.Token()).DefaultTimeout();
        Assert.Equal(WebSocketCloseStatus.NormalClosure, ws.CloseStatus);
    }

    [Fact]
    public async Task Text_and_binary_messages_of_every_size_echo_byte_exact_in_order()
    {
        await using var router = await CliTestRouter.StartAsync(output);
        await using var backend = await StartBackendAsync();
        await using var connector = await TestConnector.StartAsync(router, "echo", backend, output, TestConnector.V3Only);

        using var ws = new ClientWebSocket();
        ws.Options.AddSubProtocol("chat.v1");
        ws.Options.AddSubProtocol("chat.v2");
        ws.Options.SetRequestHeader("Cookie", "a=1");
        ws.Options.SetRequestHeader("Authorization", "Bearer t0ken");
        ws.Options.SetRequestHeader("Origin", "http://example.test");
        ws.Options.SetRequestHeader("X-Custom", "yes");
        await ws.ConnectAsync(WsUri(router, "/echo/echo?x=1"), TestTimeouts.Token()).DefaultTimeout();
        Assert.Equal("chat.v1", ws.SubProtocol);
        Assert.Equal("chat.v1", await _backendSubProtocol.Task.DefaultTimeout());
        var headers = await _backendHeaders.Task.DefaultTimeout();
        Assert.Equal("a=1", headers["cookie"]);
        Assert.Equal("Bearer t0ken", headers["authorization"]);
        Assert.Equal("http://example.test", headers["origin"]);
        Assert.Equal("yes", headers["x-custom"]);
        Assert.Contains("putsh", headers["via"], StringComparison.Ordinal);
        Assert.Contains("chat.v2", headers["sec-websocket-protocol"], StringComparison.Ordinal);
        Assert.False(headers.ContainsKey("sec-websocket-extensions"));

        var random = new Random(42);
        foreach (var size in new[] { 0, 125, 64 * 1024, 16 * 1024 * 1024 })
        {
            foreach (var type in new[] { WebSocketMessageType.Text, WebSocketMessageType.Binary })
            {
                var data = new byte[size];
                if (type == WebSocketMessageType.Text)
                {
                    data.AsSpan().Fill((byte)'a');
                }
                else
                {
                    random.NextBytes(data);
                }

                var send = ws.SendAsync(data, type, true, TestTimeouts.Token());
                var (gotType, got) = await ReceiveMessageAsync(ws);
                await send.DefaultTimeout();
                Assert.Equal(type, gotType);
                Assert.Equal(size, got.Length);
                Assert.True(data.AsSpan().SequenceEqual(got), $"{type} message of {size} bytes differs");
            }
        }

        // Several messages in a row keep their order.
        for (var i = 0; i < 20; i++)
        {
            await ws.SendAsync(Encoding.UTF8.GetBytes("m" + i), WebSocketMessageType.Text, true, TestTimeouts.Token()).DefaultTimeout();
        }

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal("m" + i, Encoding.UTF8.GetString((await ReceiveMessageAsync(ws)).Data));
        }

        await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", TestTimeouts.Token()).DefaultTimeout();
        Assert.Equal(WebSocketCloseStatus.NormalClosure, ws.CloseStatus);
    }

    [Fact]
    public async Task The_clients_keep_alive_pings_are_answered()
    {
        await using var router = await CliTestRouter.StartAsync(output);
        await using var backend = await StartBackendAsync();
        await using var connector = await TestConnector.StartAsync(router, "echo", backend, output, TestConnector.V3Only);

        using var ws = new ClientWebSocket();
        ws.Options.KeepAliveInterval = TimeSpan.FromMilliseconds(100);
        ws.Options.KeepAliveTimeout = TimeSpan.FromMilliseconds(500);
        await ws.ConnectAsync(WsUri(router, "/echo/slow"), TestTimeouts.Token()).DefaultTimeout();
        await ws.SendAsync(Encoding.UTF8.GetBytes("ping me"), WebSocketMessageType.Text, true, TestTimeouts.Token()).DefaultTimeout();

        // The backend answers after 1.5 s: the connection must still be up then.
        var (type, data) = await ReceiveMessageAsync(ws);
        Assert.Equal(WebSocketMessageType.Text, type);
        Assert.Equal("ping me", Encoding.UTF8.GetString(data));
        Assert.Equal(WebSocketState.Open, ws.State);
        await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "", TestTimeouts.Token()).DefaultTimeout();
    }

    [Fact]
    public async Task A_close_from_the_client_reaches_the_backend_and_is_echoed()
    {
        await using var router = await CliTestRouter.StartAsync(output);
        await using var backend = await StartBackendAsync();
        await using var connector = await TestConnector.StartAsync(router, "echo", backend, output, TestConnector.V3Only);

        using var ws = new ClientWebSocket();
        await ws.ConnectAsync(WsUri(router, "/echo/echo"), TestTimeouts.Token()).DefaultTimeout();
        await ws.SendAsync(Encoding.UTF8.GetBytes("hello"), WebSocketMessageType.Text, true, TestTimeouts.Token()).DefaultTimeout();
        Assert.Equal("hello", Encoding.UTF8.GetString((await ReceiveMessageAsync(ws)).Data));

        await ws.CloseAsync((WebSocketCloseStatus)4001, "bye", TestTimeouts.Token()).DefaultTimeout();
        var (status, reason) = await _backendSawClose.Task.DefaultTimeout();
        Assert.Equal((WebSocketCloseStatus)4001, status);
        Assert.Equal("bye", reason);
        Assert.Equal(WebSocketState.Closed, ws.State);
        Assert.Equal((WebSocketCloseStatus)4001, ws.CloseStatus);
        Assert.Equal("bye", ws.CloseStatusDescription);
    }

    [Fact]
    public async Task A_close_from_the_backend_reaches_the_client()
    {
        await using var router = await CliTestRouter.StartAsync(output);
        await using var backend = await StartBackendAsync();
        await using var connector = await TestConnector.StartAsync(router, "echo", backend, output, TestConnector.V3Only);

        using var ws = new ClientWebSocket();
        await ws.ConnectAsync(WsUri(router, "/echo/close-me"), TestTimeouts.Token()).DefaultTimeout();
        await ws.SendAsync(Encoding.UTF8.GetBytes("close me"), WebSocketMessageType.Text, true, TestTimeouts.Token()).DefaultTimeout();
        var (type, _) = await ReceiveMessageAsync(ws);
        Assert.Equal(WebSocketMessageType.Close, type);
        Assert.Equal((WebSocketCloseStatus)4002, ws.CloseStatus);
        Assert.Equal("server bye", ws.CloseStatusDescription);
        await ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", TestTimeouts.Token()).DefaultTimeout();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Connectors_without_the_extension_get_no_upgrade_and_the_client_a_502(bool v1Only)
    {
        await using var router = await CliTestRouter.StartAsync(output);
        await using var backend = await StartBackendAsync();
        await using var connector = await TestConnector.StartAsync(router, "echo", backend, output, o =>
        {
            if (v1Only)
            {
                TestConnector.V1Only(o);
            }
            else
            {
                TestConnector.V3Only(o);
                o.WebSockets = false;
            }
        });

        using var ws = new ClientWebSocket();
        ws.Options.CollectHttpResponseDetails = true;
        await Assert.ThrowsAsync<WebSocketException>(() => ws.ConnectAsync(WsUri(router, "/echo/echo"), TestTimeouts.Token())).DefaultTimeout();
        Assert.Equal(HttpStatusCode.BadGateway, ws.HttpStatusCode);
        Assert.Equal(0, backend.RequestCount);

        // The route itself still works for plain requests.
        using var response = await router.Client.GetAsync("/echo/echo").DefaultTimeout();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(1, backend.RequestCount);
    }

    [Fact]
    public async Task A_backend_that_refuses_the_upgrade_gives_its_status_to_the_client()
    {
        await using var router = await CliTestRouter.StartAsync(output);
        await using var backend = await StartBackendAsync();
        await using var connector = await TestConnector.StartAsync(router, "echo", backend, output, TestConnector.V3Only);

        using var ws = new ClientWebSocket();
        ws.Options.CollectHttpResponseDetails = true;
        await Assert.ThrowsAsync<WebSocketException>(() => ws.ConnectAsync(WsUri(router, "/echo/refuse"), TestTimeouts.Token())).DefaultTimeout();
        Assert.Equal(HttpStatusCode.Forbidden, ws.HttpStatusCode);

        // The socket goes on serving.
        using var again = new ClientWebSocket();
        await again.ConnectAsync(WsUri(router, "/echo/echo"), TestTimeouts.Token()).DefaultTimeout();
        await again.SendAsync(Encoding.UTF8.GetBytes("still here"), WebSocketMessageType.Text, true, TestTimeouts.Token()).DefaultTimeout();
        Assert.Equal("still here", Encoding.UTF8.GetString((await ReceiveMessageAsync(again)).Data));
        await again.CloseAsync(WebSocketCloseStatus.NormalClosure, "", TestTimeouts.Token()).DefaultTimeout();
    }

    [Fact]
    public async Task A_client_that_vanishes_gets_the_backend_closed_with_1001()
    {
        await using var router = await CliTestRouter.StartAsync(output);
        await using var backend = await StartBackendAsync();
        await using var connector = await TestConnector.StartAsync(router, "echo", backend, output, TestConnector.V3Only);

        var ws = new ClientWebSocket();
        await ws.ConnectAsync(WsUri(router, "/echo/echo"), TestTimeouts.Token()).DefaultTimeout();
        await ws.SendAsync(Encoding.UTF8.GetBytes("x"), WebSocketMessageType.Text, true, TestTimeouts.Token()).DefaultTimeout();
        await ReceiveMessageAsync(ws);
        ws.Abort();
        ws.Dispose();

        var (status, _) = await _backendSawClose.Task.DefaultTimeout();
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, status);
    }

    [Fact]
    public async Task A_client_that_stops_reading_stalls_the_backend_instead_of_filling_memory()
    {
        await using var router = await CliTestRouter.StartAsync(output);
        await using var backend = await StartBackendAsync();
        await using var connector = await TestConnector.StartAsync(router, "echo", backend, output, TestConnector.V3Only);

        using var ws = new ClientWebSocket();
        await ws.ConnectAsync(WsUri(router, "/echo/flood"), TestTimeouts.Token()).DefaultTimeout();

        // Nothing is read: the backend's sends must stop once socket buffers and the flow windows are full.
        long last = -1;
        var stableSince = DateTime.UtcNow;
        await Eventually.True(() =>
        {
            var now = Interlocked.Read(ref _flooded);
            if (now != last)
            {
                last = now;
                stableSince = DateTime.UtcNow;
            }

            return now > 0 && DateTime.UtcNow - stableSince > TimeSpan.FromSeconds(1);
        }, "the backend to stall");
        output.WriteLine($"backend stalled after {last} bytes");
        Assert.True(last < FloodMessages / 2 * 1024L * 1024, $"the backend sent {last} bytes to a client that reads nothing");

        // Reading again lets everything through, in order.
        for (var i = 0; i < FloodMessages; i++)
        {
            var (type, data) = await ReceiveMessageAsync(ws);
            Assert.Equal(WebSocketMessageType.Binary, type);
            Assert.Equal(1024 * 1024, data.Length);
            Assert.Equal((byte)i, data[0]);
        }

        var (last2, _) = await ReceiveMessageAsync(ws);
        Assert.Equal(WebSocketMessageType.Close, last2);
        Assert.Equal("flooded", ws.CloseStatusDescription);
        await ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", TestTimeouts.Token()).DefaultTimeout();
    }

    [Theory]
    [InlineData("cranker_3.0", true, true)]
    [InlineData("cranker_3.0", false, false)]
    [InlineData("cranker_1.0", true, false)]
    public async Task The_router_answers_the_extension_only_to_v3_connectors_that_ask(string protocol, bool ask, bool expected)
    {
        await using var router = await CliTestRouter.StartAsync(output);
        using var ws = new ClientWebSocket();
        ws.Options.CollectHttpResponseDetails = true;
        ws.Options.AddSubProtocol(protocol);
        ws.Options.SetRequestHeader("Route", "raw");
        if (ask)
        {
            ws.Options.SetRequestHeader("Putsh-Extensions", "other, websocket");
        }

        await ws.ConnectAsync(new Uri(router.RegisterUri, "/register/?connectorInstanceID=raw-test"), TestTimeouts.Token()).DefaultTimeout();
        Assert.Equal(protocol, ws.SubProtocol);
        Assert.Equal(expected, ws.HttpResponseHeaders!.TryGetValue("Putsh-Extensions", out var values) && values.Contains("websocket"));
        if (!expected)
        {
            Assert.False(ws.HttpResponseHeaders.ContainsKey("Putsh-Extensions"));
        }

        await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "", TestTimeouts.Token()).DefaultTimeout();
    }

    [Fact]
    public async Task A_router_with_websockets_off_forwards_the_handshake_as_a_plain_request()
    {
        await using var router = await CliTestRouter.StartAsync(output, o => o.WebSockets = false);
        await using var backend = await StartBackendAsync();
        await using var connector = await TestConnector.StartAsync(router, "echo", backend, output, TestConnector.V3Only);

        using var ws = new ClientWebSocket();
        ws.Options.CollectHttpResponseDetails = true;
        await Assert.ThrowsAsync<WebSocketException>(() => ws.ConnectAsync(WsUri(router, "/echo/echo"), TestTimeouts.Token())).DefaultTimeout();

        // The backend saw a GET without an upgrade and refused it.
        Assert.Equal(HttpStatusCode.BadRequest, ws.HttpStatusCode);
        Assert.Equal(1, backend.RequestCount);
    }

    [Fact]
    public async Task An_in_process_handler_echoes_over_a_websocket_channel()
    {
        var closed = new TaskCompletionSource<ChannelCloseStatus>(TaskCreationOptions.RunContinuationsAsynchronously);
        var isWebSocket = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var router = await CliTestRouter.StartAsync(output);
        await using var connector = await TestConnector.StartAsync([router.RegisterUri], "app", new Uri("http://unused.invalid"), output, o =>
        {
            TestConnector.V3Only(o);
            o.Target = "";
            o.Handler = (request, channel) =>
            {
                isWebSocket.TrySetResult(channel.IsWebSocket);
                channel.OnReceive(m => channel.Send(m.IsText ? ChannelData.Text("echo: " + m.Text) : ChannelData.Bytes(m.Data.ToArray())));
                channel.OnClose(s => closed.TrySetResult(s));
                return Task.CompletedTask;
            };
        });

        using var ws = new ClientWebSocket();
        await ws.ConnectAsync(WsUri(router, "/app/chat"), TestTimeouts.Token()).DefaultTimeout();
        Assert.True(await isWebSocket.Task.DefaultTimeout());

        await ws.SendAsync(Encoding.UTF8.GetBytes("hi"), WebSocketMessageType.Text, true, TestTimeouts.Token()).DefaultTimeout();
        var (type, data) = await ReceiveMessageAsync(ws);
        Assert.Equal(WebSocketMessageType.Text, type);
        Assert.Equal("echo: hi", Encoding.UTF8.GetString(data));

        var bytes = new byte[200_000];
        new Random(7).NextBytes(bytes);
        var send = ws.SendAsync(bytes, WebSocketMessageType.Binary, true, TestTimeouts.Token());
        (type, data) = await ReceiveMessageAsync(ws);
        await send.DefaultTimeout();
        Assert.Equal(WebSocketMessageType.Binary, type);
        Assert.True(bytes.AsSpan().SequenceEqual(data));

        await ws.CloseAsync(WebSocketCloseStatus.EndpointUnavailable, "leaving", TestTimeouts.Token()).DefaultTimeout();
        Assert.Equal(ChannelCloseStatus.GoingAway, await closed.Task.DefaultTimeout());
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, ws.CloseStatus);
    }

    [Fact]
    public async Task An_in_process_handler_closes_with_1000()
    {
        await using var router = await CliTestRouter.StartAsync(output);
        await using var connector = await TestConnector.StartAsync([router.RegisterUri], "app", new Uri("http://unused.invalid"), output, o =>
        {
            TestConnector.V3Only(o);
            o.Target = "";
            o.Handler = (request, channel) =>
            {
                channel.OnReceive(m =>
                {
                    channel.Send(ChannelData.Text("last words"));
                    channel.Close();
                });
                return Task.CompletedTask;
            };
        });

        using var ws = new ClientWebSocket();
        await ws.ConnectAsync(WsUri(router, "/app/chat"), TestTimeouts.Token()).DefaultTimeout();
        await ws.SendAsync(Encoding.UTF8.GetBytes("bye?"), WebSocketMessageType.Text, true, TestTimeouts.Token()).DefaultTimeout();
        Assert.Equal("last words", Encoding.UTF8.GetString((await ReceiveMessageAsync(ws)).Data));
        var (type, _) = await ReceiveMessageAsync(ws);
        Assert.Equal(WebSocketMessageType.Close, type);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, ws.CloseStatus);
        await ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", TestTimeouts.Token()).DefaultTimeout();
    }
}
