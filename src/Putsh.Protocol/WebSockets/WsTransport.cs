using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Putsh.Protocol.Transport;

namespace Putsh.Protocol.WebSockets;

/// <summary>
/// What a <see cref="PutshWebSocket"/> runs over: bytes in as a <see cref="PipeReader"/>, and a send that the
/// socket's one send loop calls with everything queued since its last send.
/// </summary>
internal abstract class WsTransport : IDisposable
{
    /// <summary>Where received bytes are read in place.</summary>
    public abstract PipeReader Input { get; }

    /// <summary>Sends <paramref name="data"/> (called by one loop, one call at a time).</summary>
    public abstract ValueTask SendAsync(ReadOnlySequence<byte> data, CancellationToken cancellationToken);

    /// <summary>Ends the sending direction after the last send, gracefully where the transport can.</summary>
    public abstract ValueTask CompleteOutputAsync();

    /// <summary>Tears the connection down at once; pending reads and sends fail.</summary>
    public abstract void Abort();

    public void Dispose() => Abort();

    /// <summary>A connected TCP socket: reads into small or large blocks as the data needs, and sends each burst with one gathering send.</summary>
    public static WsTransport ForSocket(Socket socket, MemoryPool<byte>? pool = null) => new SocketTransport(socket, pool ?? TieredBlockPool.Sockets);

    /// <summary>Any duplex stream (TLS, or a server's upgraded connection): read as a socket is, written piece by piece and flushed once.</summary>
    public static WsTransport ForStream(Stream stream, PipeReader? input = null, MemoryPool<byte>? pool = null) => new StreamTransport(stream, input, pool ?? TieredBlockPool.Sockets);

    /// <summary>
    /// A transport whose input is a pipe filled by its own receive loop. Between bursts the loop waits with a zero-byte
    /// read, holding no buffer, and it sizes each block by what is coming: a small one (4 KiB) for what fits it, a ping
    /// or an acknowledgement; a large one (64 KiB) when more is waiting, or when the last read filled its block (bulk
    /// data is flowing). A keep-alive wave over ten thousand idle sockets then takes 4 KiB per socket for a moment, not
    /// 64; a body is still read 64 KiB at a time.
    /// </summary>
    private abstract class PumpedTransport : WsTransport
    {
        private const int SmallRead = 4096;
        private const int LargeRead = 64 * 1024;

        private readonly Pipe _received;

        protected PumpedTransport(MemoryPool<byte> pool)
        {
            _received = new Pipe(new PipeOptions(
                pool: pool,
                // The reader runs on the receive loop's thread, as it would reading the connection itself: no hop.
                readerScheduler: PipeScheduler.Inline,
                writerScheduler: PipeScheduler.Inline,
                pauseWriterThreshold: 1024 * 1024,
                resumeWriterThreshold: 512 * 1024,
                minimumSegmentSize: SmallRead,
                useSynchronizationContext: false));
        }

        public override PipeReader Input => _received.Reader;

        /// <summary>Reads what the connection has into <paramref name="buffer"/>; 0 at its end. An empty buffer waits for bytes.</summary>
        protected abstract ValueTask<int> ReceiveAsync(Memory<byte> buffer);

        /// <summary>Bytes ready to read now, if the connection can tell; -1 when it cannot.</summary>
        protected virtual int Available => -1;

        /// <summary>Starts the receive loop; call once the connection is ready.</summary>
        protected void StartReceiving() => _ = ReceiveLoopAsync();

        private async Task ReceiveLoopAsync()
        {
            await Task.Yield();
            var writer = _received.Writer;
            Exception? error = null;
            try
            {
                var bulk = false;
                while (true)
                {
                    if (!bulk)
                    {
                        await ReceiveAsync(Memory<byte>.Empty).ConfigureAwait(false);
                        bulk = Available > SmallRead;
                    }

                    var memory = writer.GetMemory(bulk ? LargeRead : SmallRead);
                    var n = await ReceiveAsync(memory).ConfigureAwait(false);
                    if (n == 0)
                    {
                        break; // the peer ended the connection
                    }

                    writer.Advance(n);
                    bulk = n == memory.Length;
                    var flush = await writer.FlushAsync().ConfigureAwait(false);
                    if (flush.IsCompleted || flush.IsCanceled)
                    {
                        break;
                    }
                }
            }
            catch (Exception ex)
            {
                // As a stream would report it: the reader sees an IOException, whatever the connection said.
                error = ex as IOException ?? new IOException(ex.Message, ex);
            }

            await writer.CompleteAsync(error).ConfigureAwait(false);
        }
    }

    private sealed class SocketTransport : PumpedTransport
    {
        private readonly Socket _socket;
        private readonly List<ArraySegment<byte>> _gather = [];
        private int _aborted;

        public SocketTransport(Socket socket, MemoryPool<byte> pool)
            : base(pool)
        {
            _socket = socket;
            StartReceiving();
        }

        protected override ValueTask<int> ReceiveAsync(Memory<byte> buffer) => _socket.ReceiveAsync(buffer, SocketFlags.None);

        protected override int Available => _socket.Available;



        public override async ValueTask SendAsync(ReadOnlySequence<byte> data, CancellationToken cancellationToken)
        {
            if (data.IsSingleSegment)
            {
                var memory = data.First;
                while (!memory.IsEmpty)
                {
                    var n = await _socket.SendAsync(memory, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                    memory = memory[n..];
                }

                return;
            }

            _gather.Clear();
            foreach (var segment in data)
            {
                if (!MemoryMarshal.TryGetArray(segment, out var array))
                {
                    throw new InvalidOperationException("Queued bytes must live in arrays.");
                }

                _gather.Add(array);
            }

            var total = data.Length;
            var sent = await _socket.SendAsync(_gather, SocketFlags.None).ConfigureAwait(false);
            if (sent < total)
            {
                // A partial gathering send (rare: the kernel's buffer filled): send the rest piece by piece.
                await SendAsync(data.Slice(sent), cancellationToken).ConfigureAwait(false);
            }
        }

        public override ValueTask CompleteOutputAsync()
        {
            try
            {
                _socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
            }

            return ValueTask.CompletedTask;
        }

        public override void Abort()
        {
            if (Interlocked.Exchange(ref _aborted, 1) == 0)
            {
                Input.CancelPendingRead();
                _socket.Dispose();
            }
        }
    }

    private sealed class StreamTransport : PumpedTransport
    {
        private readonly Stream _stream;
        private readonly PipeReader? _given;
        private int _aborted;

        public StreamTransport(Stream stream, PipeReader? input, MemoryPool<byte> pool)
            : base(pool)
        {
            _stream = stream;
            _given = input;
            if (input is null)
            {
                StartReceiving();
            }
        }

        public override PipeReader Input => _given ?? base.Input;

        protected override ValueTask<int> ReceiveAsync(Memory<byte> buffer) => _stream.ReadAsync(buffer);

        public override async ValueTask SendAsync(ReadOnlySequence<byte> data, CancellationToken cancellationToken)
        {
            foreach (var segment in data)
            {
                await _stream.WriteAsync(segment, cancellationToken).ConfigureAwait(false);
            }

            await _stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        public override ValueTask CompleteOutputAsync() => ValueTask.CompletedTask;

        public override void Abort()
        {
            if (Interlocked.Exchange(ref _aborted, 1) == 0)
            {
                Input.CancelPendingRead();
                _stream.Dispose();
            }
        }
    }
}
