using System.Net;
using System.Security.Cryptography;
using Putsh.Connector;
using Putsh.Protocol.Channels;
using Putsh.Cli.Tests;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.FunctionalTests;

/// <summary>An application served through a router by an in-process handler: no backend, no listening port.</summary>
public sealed class InProcessHandlerTests(ITestOutputHelper output)
{
    private async Task<(TestRouter Router, CrankerConnector Connector)> StartAsync(string protocol, Func<ChannelRequest, IChannel, Task> handler)
    {
        var router = await CliTestRouter.StartAsync(output);
        var connector = await TestConnector.StartAsync([router.RegisterUri], "app", new Uri("http://unused.invalid"), output, o =>
        {
            o.Protocols.Clear();
            o.Protocols.Add(protocol);
            o.Target = "";
            o.Handler = handler;
        });
        Assert.Equal(protocol, connector.Routers[0].Protocol);
        return (router, connector);
    }

    [Theory]
    [InlineData("cranker_1.0")]
    [InlineData("cranker_3.0")]
    public async Task A_handler_sees_the_request_and_answers_with_one_send(string protocol)
    {
        ChannelRequest? seen = null;
        var (router, connector) = await StartAsync(protocol, (request, channel) =>
        {
            seen = request;
            Assert.False(channel.IsWebSocket);
            Assert.True(channel.Send(ChannelData.Response(201, [new("x-made-by", "handler"), new("content-type", "text/plain")], "created")));
            return Task.CompletedTask;
        });
        await using (router)
        await using (connector)
        {
            using var response = await router.Client.GetAsync("/app/things?a=1&a=2").DefaultTimeout();

            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            Assert.Equal("handler", response.Headers.GetValues("x-made-by").Single());
            Assert.Equal("created", await response.Content.ReadAsStringAsync().DefaultTimeout());
            Assert.Equal("GET", seen!.Method);
            Assert.Equal("/app/things", seen.Path);
            Assert.Equal("?a=1&a=2", seen.Query);
            Assert.StartsWith("for=127.0.0.1", seen.Header("forwarded")!.Split(';')[1], StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("cranker_1.0")]
    [InlineData("cranker_3.0")]
    public async Task A_handlers_response_headers_follow_the_backend_rules_hop_by_hop_and_connection_named_ones_stay_behind(string protocol)
    {
        var (router, connector) = await StartAsync(protocol, (request, channel) =>
        {
            channel.Send(ChannelData.Response(200, [new("Connection", "x-secret"), new("x-secret", "1"), new("keep-alive", "timeout=5"), new("X-Kept", "yes")], "ok"));
            return Task.CompletedTask;
        });
        await using (router)
        await using (connector)
        {
            using var response = await router.Client.GetAsync("/app/rules").DefaultTimeout();

            Assert.Equal("yes", response.Headers.GetValues("x-kept").Single());
            Assert.False(response.Headers.Contains("x-secret"), "a header the handler's Connection field named reached the client");
            Assert.False(response.Headers.Contains("keep-alive"));
            Assert.Equal("ok", await response.Content.ReadAsStringAsync().DefaultTimeout());
        }
    }

    [Theory]
    [InlineData("cranker_1.0")]
    [InlineData("cranker_3.0")]
    public async Task A_body_only_first_send_means_200_and_later_statuses_are_ignored(string protocol)
    {
        var (router, connector) = await StartAsync(protocol, (request, channel) =>
        {
            channel.Send(ChannelData.Text("one "));
            channel.Send(ChannelData.Response(500, null, "two"));
            return Task.CompletedTask;
        });
        await using (router)
        await using (connector)
        {
            using var response = await router.Client.GetAsync("/app/x").DefaultTimeout();
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("one two", await response.Content.ReadAsStringAsync().DefaultTimeout());
        }
    }

    [Theory]
    [InlineData("cranker_1.0")]
    [InlineData("cranker_3.0")]
    public async Task A_streamed_response_reaches_the_client_send_by_send(string protocol)
    {
        var next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (router, connector) = await StartAsync(protocol, async (request, channel) =>
        {
            channel.Send(ChannelData.Response(200, [new("content-type", "text/event-stream")], "data: first\n\n"));
            await next.Task;
            channel.Send(ChannelData.Text("data: second\n\n"));
        });
        await using (router)
        await using (connector)
        {
            using var response = await router.Client.GetAsync("/app/events", HttpCompletionOption.ResponseHeadersRead).DefaultTimeout();
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync().DefaultTimeout());
            Assert.Equal("data: first", await reader.ReadLineAsync().DefaultTimeout());
            Assert.False(next.Task.IsCompleted);
            next.SetResult();
            Assert.Equal("", await reader.ReadLineAsync().DefaultTimeout());
            Assert.Equal("data: second", await reader.ReadLineAsync().DefaultTimeout());
            Assert.Equal("", await reader.ReadLineAsync().DefaultTimeout());
            Assert.Null(await reader.ReadLineAsync().DefaultTimeout()); // the handler returned: the response is complete
        }
    }

    [Theory]
    [InlineData("cranker_1.0")]
    [InlineData("cranker_3.0")]
    public async Task A_handler_reads_the_request_body_as_a_stream(string protocol)
    {
        var (router, connector) = await StartAsync(protocol, async (request, channel) =>
        {
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[8192];
            long total = 0;
            int n;
            while ((n = await request.Body.ReadAsync(buffer)) > 0)
            {
                sha.AppendData(buffer, 0, n);
                total += n;
            }

            channel.Send(ChannelData.Response(200, null, $"{total} {Convert.ToHexString(sha.GetHashAndReset())}"));
        });
        await using (router)
        await using (connector)
        {
            var data = RandomNumberGenerator.GetBytes(3 * 1024 * 1024);
            using var response = await router.Client.PostAsync("/app/upload", new ByteArrayContent(data)).DefaultTimeout();
            Assert.Equal($"{data.Length} {Backends.Sha256(data)}", await response.Content.ReadAsStringAsync().DefaultTimeout());
        }
    }

    [Theory]
    [InlineData("cranker_1.0")]
    [InlineData("cranker_3.0")]
    public async Task A_handler_that_throws_gives_500_before_any_send_and_an_abort_after(string protocol)
    {
        var (router, connector) = await StartAsync(protocol, (request, channel) =>
        {
            if (request.Path.EndsWith("/late", StringComparison.Ordinal))
            {
                channel.Send(ChannelData.Response(200, [new("content-length", "100")], "partial"));
            }

            throw new InvalidOperationException("boom");
        });
        await using (router)
        await using (connector)
        {
            using var early = await router.Client.GetAsync("/app/early").DefaultTimeout();
            Assert.Equal(HttpStatusCode.InternalServerError, early.StatusCode);

            await Assert.ThrowsAnyAsync<Exception>(() => router.Client.GetByteArrayAsync("/app/late")).DefaultTimeout();
        }
    }

    [Theory]
    [InlineData("cranker_1.0", ChannelCloseStatus.GoingAway)]
    [InlineData("cranker_3.0", ChannelCloseStatus.ClientClose)]
    public async Task A_client_that_leaves_closes_the_handlers_channel(string protocol, ChannelCloseStatus expected)
    {
        var closed = new TaskCompletionSource<ChannelCloseStatus>(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sendAfterClose = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var (router, connector) = await StartAsync(protocol, async (request, channel) =>
        {
            channel.OnClose(s => closed.TrySetResult(s));
            channel.Send(ChannelData.Response(200, null, "tick\n"));
            started.SetResult();
            await closed.Task;
            sendAfterClose.SetResult(channel.Send(ChannelData.Text("too late")));
        });
        await using (router)
        await using (connector)
        {
            using (var response = await router.Client.GetAsync("/app/stream", HttpCompletionOption.ResponseHeadersRead).DefaultTimeout())
            {
                await started.Task.DefaultTimeout();
            }

            Assert.Equal(expected, await closed.Task.DefaultTimeout());
            Assert.False(await sendAfterClose.Task.DefaultTimeout());
        }
    }
}
