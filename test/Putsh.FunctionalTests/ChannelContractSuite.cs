using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using Putsh.Connector;
using Putsh.Protocol.Channels;
using Putsh.Cli.Tests;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.FunctionalTests;

/// <summary>
/// The Channel contract's clauses, run against every channel an application gets from putsh: an HTTP exchange over
/// cranker_1.0, one over cranker_3.0, and a WebSocket (cranker_3.0 with the websocket extension). The same clauses
/// run against the channel core directly in Putsh.Protocol.Tests.
/// </summary>
public sealed class ChannelContractSuite(ITestOutputHelper output)
{
    public static TheoryData<string> Kinds => new() { "http-1.0", "http-3.0", "websocket" };

    private sealed class Harness : IAsyncDisposable
    {
        public required TestRouter Router { get; init; }

        public required CrankerConnector Connector { get; init; }

        public required string Kind { get; init; }

        public HttpResponseMessage? Response { get; private set; }

        public ClientWebSocket? WebSocket { get; private set; }

        public async Task OpenAsync()
        {
            if (Kind == "websocket")
            {
                WebSocket = new ClientWebSocket();
                await WebSocket.ConnectAsync(new Uri($"ws://{Router.ClientUri.Authority}/app/x"), TestTimeouts.Token()).DefaultTimeout();
            }
            else
            {
                Response = await Router.Client.GetAsync("/app/x", HttpCompletionOption.ResponseHeadersRead).DefaultTimeout();
                Assert.Equal(HttpStatusCode.OK, Response.StatusCode);
            }
        }

        /// <summary>Everything the client receives until the end, as lines (one per WebSocket message).</summary>
        public async Task<List<string>> ReadToEndAsync()
        {
            if (Response is not null)
            {
                var text = await Response.Content.ReadAsStringAsync().DefaultTimeout();
                return text.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
            }

            var lines = new List<string>();
            var buffer = new byte[64 * 1024];
            using var message = new MemoryStream();
            while (true)
            {
                var result = await WebSocket!.ReceiveAsync(buffer, TestTimeouts.Token()).DefaultTimeout();
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return lines;
                }

                message.Write(buffer, 0, result.Count);
                if (result.EndOfMessage)
                {
                    lines.Add(Encoding.UTF8.GetString(message.ToArray()).TrimEnd('\n'));
                    message.SetLength(0);
                }
            }
        }

        /// <summary>The client goes away without a word.</summary>
        public void Leave()
        {
            Response?.Dispose();
            WebSocket?.Abort();
        }

        public async ValueTask DisposeAsync()
        {
            Leave();
            WebSocket?.Dispose();
            await Connector.DisposeAsync();
            await Router.DisposeAsync();
        }
    }

    private async Task<Harness> StartAsync(string kind, Func<ChannelRequest, IChannel, Task> handler)
    {
        var router = await CliTestRouter.StartAsync(output);
        var connector = await TestConnector.StartAsync([router.RegisterUri], "app", new Uri("http://unused.invalid"), output, o =>
        {
            o.Protocols.Clear();
            o.Protocols.Add(kind == "http-1.0" ? "cranker_1.0" : "cranker_3.0");
            o.Target = "";
            o.Handler = handler;
        });
        return new Harness { Router = router, Connector = connector, Kind = kind };
    }

    private static ChannelData Line(string kind, string text) =>
        kind == "websocket" ? ChannelData.Text(text) : ChannelData.Text(text + "\n");

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Close_is_idempotent_and_later_sends_are_refused(string kind)
    {
        var results = new TaskCompletionSource<(bool First, bool Second, bool SendAfter, bool IsOpen, bool IsWebSocket)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var harness = await StartAsync(kind, (request, channel) =>
        {
            channel.Send(Line(kind, "only"));
            var first = channel.Close();
            var second = channel.Close();
            results.SetResult((first, second, channel.Send(Line(kind, "late")), channel.IsOpen, channel.IsWebSocket));
            return Task.CompletedTask;
        });
        await harness.OpenAsync();

        Assert.Equal(["only"], await harness.ReadToEndAsync());
        Assert.Equal((true, false, false, false, kind == "websocket"), await results.Task.DefaultTimeout());
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task The_close_handler_runs_once_when_both_sides_close_at_once(string kind)
    {
        var calls = new ConcurrentQueue<ChannelCloseStatus>();
        var firstCall = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var ready = new TaskCompletionSource<IChannel>(TaskCreationOptions.RunContinuationsAsynchronously);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var harness = await StartAsync(kind, async (request, channel) =>
        {
            channel.OnClose(s =>
            {
                calls.Enqueue(s);
                firstCall.TrySetResult();
            });
            channel.Send(Line(kind, "hello"));
            ready.SetResult(channel);
            await done.Task;
        });
        await harness.OpenAsync();
        var channel = await ready.Task.DefaultTimeout();

        // Both at once: our side closes while the client vanishes.
        var ours = Task.Run(channel.Close);
        harness.Leave();
        await ours.DefaultTimeout();
        await firstCall.Task.DefaultTimeout();
        done.SetResult();

        // Both closes have happened and been handled: exactly one call, and the channel stays closed.
        Assert.Single(calls);
        Assert.False(channel.IsOpen);
        Assert.False(channel.Send(Line(kind, "late")));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Concurrent_senders_each_keep_their_order(string kind)
    {
        await using var harness = await StartAsync(kind, async (request, channel) =>
        {
            var senders = Enumerable.Range(0, 4).Select(s => Task.Run(() =>
            {
                for (var i = 0; i < 50; i++)
                {
                    Assert.True(channel.Send(Line(kind, $"{s}:{i}")));
                }
            }));
            await Task.WhenAll(senders);
            channel.Close();
        });
        await harness.OpenAsync();

        var lines = await harness.ReadToEndAsync();
        Assert.Equal(200, lines.Count);
        foreach (var sender in lines.Select(l => l.Split(':')).GroupBy(p => p[0]))
        {
            Assert.Equal(Enumerable.Range(0, 50), sender.Select(p => int.Parse(p[1])));
        }
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Sends_never_block_and_a_peer_that_reads_nothing_gets_the_channel_closed(string kind)
    {
        var outcome = new TaskCompletionSource<(long Accepted, long Milliseconds)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var status = new TaskCompletionSource<ChannelCloseStatus>(TaskCreationOptions.RunContinuationsAsynchronously);
        var clientHasHead = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var harness = await StartAsync(kind, async (request, channel) =>
        {
            channel.OnClose(s => status.TrySetResult(s));

            // The response (or the WebSocket) is under way first; only then does the flood start.
            channel.Send(Line(kind, "start"));
            await clientHasHead.Task;
            var chunk = ChannelData.Bytes(new byte[64 * 1024]);
            long accepted = 0;
            var clock = Stopwatch.StartNew();

            // The client reads nothing; every send returns at once until the queue limit, then the channel closes.
            while (channel.Send(chunk) && clock.Elapsed < TestTimeouts.Default)
            {
                accepted += 64 * 1024;
                await Task.Yield();
            }

            outcome.SetResult((accepted, clock.ElapsedMilliseconds));
        });
        await harness.OpenAsync();
        clientHasHead.SetResult();

        var (acceptedBytes, ms) = await outcome.Task.DefaultTimeout();
        output.WriteLine($"{kind}: {acceptedBytes / 1024} KiB accepted in {ms} ms before the channel closed");
        Assert.Equal(ChannelCloseStatus.ServerClose, await status.Task.DefaultTimeout());
        Assert.True(acceptedBytes <= 64L * 1024 * 1024, "memory must stay bounded");
        // Less the one chunk that the "start" line can still be holding a place for, if it is not yet written out.
        Assert.True(acceptedBytes >= (4L * 1024 * 1024) - (64 * 1024), "the whole queue allowance (4 MiB) was usable");
    }
}
