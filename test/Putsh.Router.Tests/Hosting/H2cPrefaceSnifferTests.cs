using System.IO.Pipelines;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Time.Testing;
using Putsh.Router.Hosting;

namespace Putsh.Router.Tests.Hosting;

/// <summary>The preface sniffer and the handoff listener over in-memory pipes, where the byte boundaries are exact.</summary>
public sealed class H2cPrefaceSnifferTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private static readonly byte[] Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();

    [Fact]
    public async Task Http1_request_starting_like_the_preface_goes_to_next_with_every_byte()
    {
        await using var fixture = await Fixture.StartAsync();

        await fixture.SendAsync("P");
        Assert.False(fixture.Sniffing.IsCompleted); // "P" could still be the preface
        await fixture.SendAsync("UT / HTTP/1.1\r\n");

        var seen = await fixture.NextCalled.WaitAsync(Timeout);
        Assert.Same(fixture.Connection, seen);
        Assert.StartsWith("PUT / HTTP/1.1\r\n", await ReadTextAsync(seen.Transport.Input, 16));
        await fixture.Sniffing.WaitAsync(Timeout);
    }

    [Fact]
    public async Task Preface_in_pieces_is_handed_over_unread_and_the_real_pipeline_waits_for_disposal()
    {
        await using var fixture = await Fixture.StartAsync();

        await fixture.SendAsync(Preface[..3]);
        await fixture.SendAsync(Preface[3..20]);
        Assert.False(fixture.Sniffing.IsCompleted);
        await fixture.SendAsync([.. Preface[20..], .. "tail"u8]);

        var accepted = await fixture.Listener.AcceptAsync().AsTask().WaitAsync(Timeout);
        Assert.NotNull(accepted);
        Assert.Equal(fixture.Connection.ConnectionId, accepted.ConnectionId);
        Assert.Same(fixture.Connection.RemoteEndPoint, accepted.RemoteEndPoint);
        Assert.Same(fixture.Connection.Items, accepted.Items);
        Assert.Equal(Encoding.ASCII.GetString(Preface) + "tail", await ReadTextAsync(accepted.Transport.Input, Preface.Length + 4));

        // Features of the real connection are visible; features the second pipeline sets stay in its layer.
        fixture.Connection.Features.Set(new Marker("real"));
        Assert.Equal("real", accepted.Features.Get<Marker>()?.Name);
        accepted.Features.Set(new Marker("handoff"));
        Assert.Equal("real", fixture.Connection.Features.Get<Marker>()?.Name);

        Assert.False(fixture.Sniffing.IsCompleted); // the real pipeline keeps the socket while HTTP/2 runs
        await accepted.DisposeAsync().AsTask().WaitAsync(Timeout);
        await fixture.Sniffing.WaitAsync(Timeout);
        Assert.False(fixture.NextCalled.IsCompleted);
    }

    [Fact]
    public async Task Client_closing_before_sending_anything_ends_the_connection()
    {
        await using var fixture = await Fixture.StartAsync();

        await fixture.ToServer.Writer.CompleteAsync().AsTask().WaitAsync(Timeout);

        await fixture.Sniffing.WaitAsync(Timeout);
        Assert.False(fixture.NextCalled.IsCompleted);
        await fixture.Listener.UnbindAsync().AsTask().WaitAsync(Timeout);
        Assert.Null(await fixture.Listener.AcceptAsync().AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task Input_ending_part_way_through_a_preface_goes_to_next()
    {
        await using var fixture = await Fixture.StartAsync();

        await fixture.SendAsync(Preface[..10]);
        await fixture.ToServer.Writer.CompleteAsync().AsTask().WaitAsync(Timeout);

        var seen = await fixture.NextCalled.WaitAsync(Timeout);
        Assert.Equal(Encoding.ASCII.GetString(Preface[..10]), await ReadTextAsync(seen.Transport.Input, 10));
    }

    [Fact]
    public async Task Silent_connection_is_closed_after_the_keep_alive_timeout()
    {
        var time = new FakeTimeProvider();
        await using var fixture = await Fixture.StartAsync(limits => limits.KeepAliveTimeout = TimeSpan.FromSeconds(10), time: time);

        // The wait is on the router's TimeProvider: nothing ends it before the keep-alive timeout has passed.
        time.Advance(TimeSpan.FromSeconds(9));
        Assert.False(fixture.Sniffing.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(1));
        await fixture.Sniffing.WaitAsync(Timeout);
        Assert.False(fixture.NextCalled.IsCompleted);
    }

    [Fact]
    public async Task Connection_queued_when_the_listener_is_disposed_is_aborted_and_released()
    {
        await using var fixture = await Fixture.StartAsync();
        await fixture.SendAsync(Preface);
        Assert.True(await fixture.EndPoint.Queue.WaitToReadAsync().AsTask().WaitAsync(Timeout)); // queued, not accepted
        await fixture.Listener.UnbindAsync().AsTask().WaitAsync(Timeout);

        // Not accepted yet: disposing the listener gives it up, which releases the real pipeline.
        await fixture.Listener.DisposeAsync().AsTask().WaitAsync(Timeout);
        await fixture.Sniffing.WaitAsync(Timeout);
        await fixture.Aborted.WaitAsync(Timeout);
        Assert.False(fixture.NextCalled.IsCompleted);
    }

    [Fact]
    public async Task Preface_after_unbind_is_still_accepted_until_the_queue_is_drained_then_refused()
    {
        await using var fixture = await Fixture.StartAsync();
        await fixture.SendAsync(Preface);

        // Wait until the sniffer has queued the connection: a queued connection is still served after unbind.
        var accepted = await fixture.Listener.AcceptAsync().AsTask().WaitAsync(Timeout);
        await fixture.Listener.UnbindAsync().AsTask().WaitAsync(Timeout);
        Assert.Null(await fixture.Listener.AcceptAsync().AsTask().WaitAsync(Timeout));
        await accepted!.DisposeAsync().AsTask().WaitAsync(Timeout);
        await fixture.Sniffing.WaitAsync(Timeout);

        // A new h2c connection after unbind is refused (the real pipeline just ends it).
        await using var late = await Fixture.StartAsync(endPoint: fixture.EndPoint);
        await late.SendAsync(Preface);
        await late.Sniffing.WaitAsync(Timeout);
        Assert.False(late.NextCalled.IsCompleted);
    }

    [Fact]
    public async Task Factory_binds_only_handoff_endpoints_and_each_only_once()
    {
        var factory = new H2cHandoffConnectionListenerFactory();
        var endPoint = new H2cHandoffEndPoint("test");

        Assert.True(factory.CanBind(endPoint));
        Assert.False(factory.CanBind(new IPEndPoint(IPAddress.Loopback, 0)));
        await Assert.ThrowsAsync<NotSupportedException>(() => factory.BindAsync(new IPEndPoint(IPAddress.Loopback, 0)).AsTask().WaitAsync(Timeout));

        await using var listener = await factory.BindAsync(endPoint).AsTask().WaitAsync(Timeout);
        Assert.Same(endPoint, listener.EndPoint);
        Assert.Equal("h2c-handoff.invalid/test", endPoint.ToString());
        await Assert.ThrowsAsync<InvalidOperationException>(() => factory.BindAsync(endPoint).AsTask().WaitAsync(Timeout));
    }

    private static async Task<string> ReadTextAsync(PipeReader input, int length)
    {
        while (true)
        {
            var result = await input.ReadAsync().AsTask().WaitAsync(Timeout);
            if (result.Buffer.Length >= length || result.IsCompleted)
            {
                var text = Encoding.ASCII.GetString(result.Buffer);
                input.AdvanceTo(result.Buffer.End);
                return text;
            }

            input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    private sealed record Marker(string Name);

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input => input;

        public PipeWriter Output => output;
    }

    /// <summary>A sniffer running on an in-memory connection, with a bound handoff listener.</summary>
    private sealed class Fixture : IAsyncDisposable
    {
        private readonly TaskCompletionSource<ConnectionContext> _next = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _aborted = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly IConnectionListener? _listener;

        private Fixture(H2cHandoffEndPoint endPoint, IConnectionListener? listener)
        {
            EndPoint = endPoint;
            _listener = listener;
            Connection = new DefaultConnectionContext(
                "conn-1",
                new DuplexPipe(ToServer.Reader, ToClient.Writer),
                new DuplexPipe(ToClient.Reader, ToServer.Writer))
            {
                RemoteEndPoint = new IPEndPoint(IPAddress.Loopback, 54321),
            };
            Connection.ConnectionClosed.Register(() => _aborted.TrySetResult());
        }

        public Pipe ToServer { get; } = new();

        public Pipe ToClient { get; } = new();

        public H2cHandoffEndPoint EndPoint { get; }

        /// <summary>The handoff listener, bound by this fixture unless it was given another fixture's endpoint.</summary>
        public IConnectionListener Listener => _listener ?? throw new InvalidOperationException("This fixture shares another fixture's endpoint.");

        public DefaultConnectionContext Connection { get; }

        public Task Sniffing { get; private set; } = Task.CompletedTask;

        public Task<ConnectionContext> NextCalled => _next.Task;

        /// <summary>Completes when the real connection is aborted.</summary>
        public Task Aborted => _aborted.Task;

        public static async Task<Fixture> StartAsync(Action<KestrelServerLimits>? limits = null, H2cHandoffEndPoint? endPoint = null, TimeProvider? time = null)
        {
            IConnectionListener? listener = null;
            if (endPoint is null)
            {
                endPoint = new H2cHandoffEndPoint("test");
                listener = await new H2cHandoffConnectionListenerFactory().BindAsync(endPoint).AsTask().WaitAsync(Timeout);
            }

            var fixture = new Fixture(endPoint, listener);
            var kestrelLimits = new KestrelServerLimits();
            limits?.Invoke(kestrelLimits);
            var sniffer = new H2cPrefaceSniffer(endPoint, kestrelLimits, time ?? TimeProvider.System);
            fixture.Sniffing = sniffer.OnConnectionAsync(fixture.Connection, c =>
            {
                fixture._next.TrySetResult(c);
                return Task.CompletedTask;
            });
            return fixture;
        }

        public async Task SendAsync(string text) => await SendAsync(Encoding.ASCII.GetBytes(text));

        public async Task SendAsync(byte[] bytes) => await ToServer.Writer.WriteAsync(bytes).AsTask().WaitAsync(Timeout);

        public async ValueTask DisposeAsync()
        {
            await ToServer.Writer.CompleteAsync().AsTask().WaitAsync(Timeout);
            if (_listener is not null)
            {
                await _listener.DisposeAsync().AsTask().WaitAsync(Timeout);
            }
        }
    }
}
