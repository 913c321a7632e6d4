using Microsoft.AspNetCore.Http.Features;

namespace Putsh.Router.Hosting;

/// <summary>
/// When bytes last arrived on a connector's connection, pongs included. The WebSocket answers pings internally and
/// never says when a pong came; the connection under it does, so a router can tell a connector that stopped answering
/// (frozen, or behind a half-open path) from one that is merely quiet, within about one ping interval.
/// </summary>
internal sealed class ReadActivity(TimeProvider time)
{
    private long _lastRead = time.GetTimestamp();

    /// <summary>Time since bytes last arrived.</summary>
    public TimeSpan Silence => time.GetElapsedTime(Volatile.Read(ref _lastRead));

    public void OnRead() => Volatile.Write(ref _lastRead, time.GetTimestamp());
}

/// <summary>
/// Stands in for the connection's upgrade feature on registration requests, so that the WebSocket is built on a
/// stream that notes each read in a <see cref="ReadActivity"/>. Installed before the WebSocket middleware looks.
/// </summary>
internal sealed class ReadTrackingUpgradeFeature(IHttpUpgradeFeature inner, TimeProvider time) : IHttpUpgradeFeature
{
    public bool IsUpgradableRequest => inner.IsUpgradableRequest;

    public ReadActivity? Activity { get; private set; }

    public async Task<Stream> UpgradeAsync()
    {
        var stream = await inner.UpgradeAsync();
        Activity = new ReadActivity(time);
        return new ReadTrackingStream(stream, Activity);
    }

    private sealed class ReadTrackingStream(Stream inner, ReadActivity activity) : Stream
    {
        public override bool CanRead => inner.CanRead;

        public override bool CanWrite => inner.CanWrite;

        public override bool CanSeek => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = inner.ReadAsync(buffer, cancellationToken);
            if (read.IsCompletedSuccessfully)
            {
                var n = read.Result;
                if (n > 0)
                {
                    activity.OnRead();
                }

                return new ValueTask<int>(n);
            }

            return AwaitReadAsync(read);
        }

        // Pooled: a socket's reads are one after another, so one box serves them all rather than one per read.
        [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
        private async ValueTask<int> AwaitReadAsync(ValueTask<int> read)
        {
            var n = await read.ConfigureAwait(false);
            if (n > 0)
            {
                activity.OnRead();
            }

            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = inner.Read(buffer, offset, count);
            if (n > 0)
            {
                activity.OnRead();
            }

            return n;
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => inner.WriteAsync(buffer, cancellationToken);

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.WriteAsync(buffer, offset, count, cancellationToken);

        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override void Flush() => inner.Flush();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
