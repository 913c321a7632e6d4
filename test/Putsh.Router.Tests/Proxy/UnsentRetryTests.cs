using System.Net.WebSockets;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Putsh.Router.Proxy;
using Putsh.Router.Routing;
using Putsh.Router.Sockets;
using Putsh.Tests.Common;

namespace Putsh.Router.Tests.Proxy;

/// <summary>
/// A socket that breaks while the request head is written: the connector never had the head whole, so an idempotent
/// request is offered back for another socket, and any other is answered 502. The break is made exact with a
/// transport whose write fails and whose read then ends, as a connection reset does.
/// </summary>
public sealed class UnsentRetryTests
{
    /// <summary>A connection that is reset on the first write: the write throws and the pending read sees the end.</summary>
    private sealed class ResetOnWriteStream : Stream
    {
        private readonly TaskCompletionSource<int> _readEnds = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override bool CanRead => true;

        public override bool CanWrite => true;

        public override bool CanSeek => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => new(_readEnds.Task.WaitAsync(cancellationToken));

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            _readEnds.TrySetException(new IOException("Connection reset by peer"));
            return ValueTask.FromException(new IOException("Broken pipe"));
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }

    private static WebSocket BrokenSocket() => WebSocket.CreateFromStream(new ResetOnWriteStream(), new WebSocketCreationOptions { IsServer = true, KeepAliveInterval = Timeout.InfiniteTimeSpan });

    private static ConnectorInfo Connector(string protocol) => new("svc", "*", "broken", "test", "127.0.0.1", protocol);

    private static DefaultHttpContext Request(string method)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = method;
        context.Request.Protocol = "HTTP/1.1";
        context.Request.Path = "/svc/item";
        context.Request.Host = new HostString("example");
        context.Response.Body = new MemoryStream();
        return context;
    }

    [Theory]
    [InlineData(true, "Unsent", 200)]
    [InlineData(false, "Done", 502)]
    public async Task V3_a_head_that_could_not_be_written_is_offered_back_only_when_a_retry_is_allowed(bool mayRetry, string expected, int status)
    {
        using var socket = new RouterSocketV3(BrokenSocket(), Connector("cranker_3.0"), TimeProvider.System, NullLogger.Instance, new Putsh.Protocol.V3.V3SessionSettings());
        var loop = socket.RunAsync(CancellationToken.None);
        var context = Request("GET");

        var result = await new V3ProxyExchange(context, socket, "svc", new RouterOptions(), NullLogger.Instance, mayRetry: mayRetry).RunAsync().DefaultTimeout();

        Assert.Equal(expected, result.ToString());
        Assert.Equal(status, context.Response.StatusCode);
        Assert.Equal(mayRetry, context.Response.Body.Length == 0); // an offered-back request wrote nothing to its client
        await loop.DefaultTimeout();
        Assert.Equal(0, socket.InFlight);
    }

    [Theory]
    [InlineData(true, "Unsent", 200)]
    [InlineData(false, "Done", 502)]
    public async Task V1_a_head_that_could_not_be_written_is_offered_back_only_when_a_retry_is_allowed(bool mayRetry, string expected, int status)
    {
        var options = new RouterOptions();
        var pool = new V1RoutePool("svc", TimeProvider.System);
        var socket = new RouterSocketV1(BrokenSocket(), Connector("cranker_1.0"), pool, options, TimeProvider.System, NullLogger.Instance);
        var context = Request("GET");
        var exchange = new V1ProxyExchange(context, socket, "svc", options, NullLogger.Instance, mayRetry);
        Assert.True(socket.TryAssign(exchange));

        var result = await exchange.RunAsync().DefaultTimeout();

        Assert.Equal(expected, result.ToString());
        Assert.Equal(status, context.Response.StatusCode);
    }
}
