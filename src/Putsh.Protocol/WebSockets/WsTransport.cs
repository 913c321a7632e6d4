using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading.Tasks.Sources;
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

    /// <summary>Ends the connection once both close frames have passed: what was sent still reaches the other end.</summary>
    public virtual void Close() => Abort();

    public void Dispose() => Abort();

    /// <summary>A connected TCP socket: reads into the shared block pool, and sends each burst with one gathering send.</summary>
    public static WsTransport ForSocket(Socket socket) => new SocketTransport(socket);

    /// <summary>Any duplex stream (TLS, or a server's upgraded connection): pieces are written, then flushed once.</summary>
    public static WsTransport ForStream(Stream stream, PipeReader? input = null) => new StreamTransport(stream, input);

    /// <summary>
    /// A server connection's own pipes (Kestrel's transport, below HTTP): frames are read in place from its input and
    /// written into its output, flushed once per burst. <paramref name="abort"/> tears the connection down.
    /// </summary>
    public static WsTransport ForPipe(IDuplexPipe pipe, Action abort) => new PipeTransport(pipe, abort);

    /// <summary>Options of every reading pipe: the shared 64 KiB blocks, read as far as a block allows.</summary>
    internal static StreamPipeReaderOptions ReaderOptions(bool leaveOpen) =>
        new(pool: BlockMemoryPool.Sockets, bufferSize: BlockMemoryPool.Sockets.MaxBufferSize, minimumReadSize: 4096, leaveOpen: leaveOpen, useZeroByteReads: true);

    private sealed class SocketTransport : WsTransport
    {
        private readonly Socket _socket;
        private readonly NetworkStream _stream;
        private readonly PipeReader _input;
        private readonly List<ArraySegment<byte>> _gather = [];
        private readonly SendArgs _send = new();
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
                    var n = await _send.SendAsync(_socket, memory).ConfigureAwait(false);
                    memory = memory[n..];
                }

                return;
            }

            foreach (var segment in data)
            {
                if (!MemoryMarshal.TryGetArray(segment, out var array))
                {
                    throw new InvalidOperationException("Queued bytes must live in arrays.");
                }

                _gather.Add(array);
            }

            int sent;
            try
            {
                sent = await _send.SendAsync(_socket, _gather).ConfigureAwait(false);
            }
            finally
            {
                _gather.Clear(); // the blocks go back to the pool once sent: hold no reference to them
            }

            if (sent < data.Length)
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

    /// <summary>
    /// The send operation of one socket, which lets go of what it sent as soon as each send is done. The socket's own
    /// cached operation (behind <see cref="Socket.SendAsync(ReadOnlyMemory{byte}, SocketFlags, CancellationToken)"/>)
    /// keeps a reference to the last buffer it sent for as long as the connection lives: here that is a pooled block
    /// the queue has already given back, and heap dumps of an idle connector (1,000 sockets) found 983 such 64 KiB
    /// blocks, one per socket, kept alive after the pool had let them go.
    /// </summary>
    private sealed class SendArgs : SocketAsyncEventArgs, IValueTaskSource<int>
    {
        private ManualResetValueTaskSourceCore<int> _source;

        public SendArgs()
            : base(unsafeSuppressExecutionContextFlow: true)
        {
        }

        public ValueTask<int> SendAsync(Socket socket, ReadOnlyMemory<byte> buffer)
        {
            SetBuffer(MemoryMarshal.AsMemory(buffer));
            return Start(socket);
        }

        public ValueTask<int> SendAsync(Socket socket, IList<ArraySegment<byte>> buffers)
        {
            BufferList = buffers;
            return Start(socket);
        }

        private ValueTask<int> Start(Socket socket)
        {
            _source.Reset();
            bool pending;
            try
            {
                pending = socket.SendAsync(this);
            }
            catch
            {
                Release();
                throw;
            }

            if (pending)
            {
                return new ValueTask<int>(this, _source.Version);
            }

            var (error, sent) = Finish();
            return error == SocketError.Success ? ValueTask.FromResult(sent) : ValueTask.FromException<int>(new SocketException((int)error));
        }

        protected override void OnCompleted(SocketAsyncEventArgs e)
        {
            var (error, sent) = Finish();
            if (error == SocketError.Success)
            {
                _source.SetResult(sent);
            }
            else
            {
                _source.SetException(new SocketException((int)error));
            }
        }

        private (SocketError Error, int Sent) Finish()
        {
            var result = (SocketError, BytesTransferred);
            Release();
            return result;
        }

        private void Release()
        {
            if (BufferList is not null)
            {
                BufferList = null;
            }
            else
            {
                SetBuffer(null, 0, 0);
            }
        }

        public int GetResult(short token) => _source.GetResult(token);

        public ValueTaskSourceStatus GetStatus(short token) => _source.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _source.OnCompleted(continuation, state, token, flags);
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

    private sealed class PipeTransport(IDuplexPipe pipe, Action abort) : WsTransport
    {
        private int _aborted;

        public override PipeReader Input => pipe.Input;

        public override async ValueTask SendAsync(ReadOnlySequence<byte> data, CancellationToken cancellationToken)
        {
            var output = pipe.Output;
            foreach (var segment in data)
            {
                output.Write(segment.Span);
            }

            var result = await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            if (result.IsCanceled || result.IsCompleted)
            {
                throw new IOException("The connection is closed.");
            }
        }

        // Not the output pipe's completion: Kestrel's socket transport closes both directions when its output ends,
        // and the close frame from the other end is still to be read. The connection ends with Close.
        public override ValueTask CompleteOutputAsync() => ValueTask.CompletedTask;

        // The pipe's FlushAsync returns once the bytes are in the pipe, not on the wire: completing the output lets
        // the transport send them before it closes the socket, where an abort would drop them.
        public override void Close()
        {
            if (Interlocked.Exchange(ref _aborted, 1) == 0)
            {
                pipe.Input.CancelPendingRead();
                pipe.Output.Complete();
            }
        }

        public override void Abort()
        {
            if (Interlocked.Exchange(ref _aborted, 1) == 0)
            {
                pipe.Input.CancelPendingRead();
                pipe.Output.CancelPendingFlush();
                abort();
            }
        }
    }
}
