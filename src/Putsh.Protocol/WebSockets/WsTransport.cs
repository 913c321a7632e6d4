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

    /// <summary>A connected TCP socket: reads into the shared block pool, and sends each burst with one gathering send.</summary>
    public static WsTransport ForSocket(Socket socket) => new SocketTransport(socket);

    /// <summary>Any duplex stream (TLS, or a server's upgraded connection): pieces are written, then flushed once.</summary>
    public static WsTransport ForStream(Stream stream, PipeReader? input = null) => new StreamTransport(stream, input);

    /// <summary>Options of every reading pipe: the shared 64 KiB blocks, read as far as a block allows.</summary>
    internal static StreamPipeReaderOptions ReaderOptions(bool leaveOpen) =>
        new(pool: BlockMemoryPool.Sockets, bufferSize: BlockMemoryPool.Sockets.MaxBufferSize, minimumReadSize: 4096, leaveOpen: leaveOpen, useZeroByteReads: true);

    private sealed class SocketTransport : WsTransport
    {
        private readonly Socket _socket;
        private readonly NetworkStream _stream;
        private readonly PipeReader _input;
        private readonly List<ArraySegment<byte>> _gather = [];
        private int _aborted;

        public SocketTransport(Socket socket)
        {
            _socket = socket;
            _stream = new NetworkStream(socket, ownsSocket: true);
            // Zero-byte reads: an idle socket holds no block while it waits for bytes.
            _input = PipeReader.Create(_stream, ReaderOptions(leaveOpen: true));
        }

        public override PipeReader Input => _input;

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
                _input.CancelPendingRead();
                _stream.Dispose();
            }
        }
    }

    private sealed class StreamTransport(Stream stream, PipeReader? input) : WsTransport
    {
        private readonly PipeReader _input = input ?? PipeReader.Create(stream, ReaderOptions(leaveOpen: true));
        private int _aborted;

        public override PipeReader Input => _input;

        public override async ValueTask SendAsync(ReadOnlySequence<byte> data, CancellationToken cancellationToken)
        {
            foreach (var segment in data)
            {
                await stream.WriteAsync(segment, cancellationToken).ConfigureAwait(false);
            }

            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        public override ValueTask CompleteOutputAsync() => ValueTask.CompletedTask;

        public override void Abort()
        {
            if (Interlocked.Exchange(ref _aborted, 1) == 0)
            {
                _input.CancelPendingRead();
                stream.Dispose();
            }
        }
    }
}
