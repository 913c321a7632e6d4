using System.IO.Pipelines;
using System.Net.WebSockets;

namespace Putsh.Protocol.Tests;

/// <summary>
/// Two real <see cref="WebSocket"/>s (server and client) connected by two in-memory pipes, one per direction.
/// </summary>
internal sealed class InMemoryWebSocketPair : IDisposable
{
    private readonly DuplexPipeStream _serverStream;
    private readonly DuplexPipeStream _clientStream;

    public InMemoryWebSocketPair()
    {
        var clientToServer = new Pipe();
        var serverToClient = new Pipe();
        _serverStream = new DuplexPipeStream(clientToServer.Reader, serverToClient.Writer);
        _clientStream = new DuplexPipeStream(serverToClient.Reader, clientToServer.Writer);
        Server = WebSocket.CreateFromStream(_serverStream, new WebSocketCreationOptions { IsServer = true, KeepAliveInterval = TimeSpan.Zero });
        Client = WebSocket.CreateFromStream(_clientStream, new WebSocketCreationOptions { IsServer = false, KeepAliveInterval = TimeSpan.Zero });
    }

    public WebSocket Server { get; }

    public WebSocket Client { get; }

    public void Dispose()
    {
        Server.Dispose();
        Client.Dispose();
        _serverStream.Dispose();
        _clientStream.Dispose();
    }

    /// <summary>Reads whole messages until a close frame arrives (or the stream ends).</summary>
    public static async Task<List<ReceivedMessage>> ReceiveAllAsync(WebSocket socket, CancellationToken cancellationToken)
    {
        var messages = new List<ReceivedMessage>();
        var buffer = new byte[4096];
        using var current = new MemoryStream();
        while (true)
        {
            ValueWebSocketReceiveResult result;
            try
            {
                result = await socket.ReceiveAsync(buffer.AsMemory(), cancellationToken);
            }
            catch (WebSocketException)
            {
                return messages;
            }

            if (result.MessageType == WebSocketMessageType.Close)
            {
                messages.Add(new ReceivedMessage(WebSocketMessageType.Close, [], socket.CloseStatus, socket.CloseStatusDescription));
                return messages;
            }

            current.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                messages.Add(new ReceivedMessage(result.MessageType, current.ToArray(), null, null));
                current.SetLength(0);
            }
        }
    }

    internal sealed record ReceivedMessage(WebSocketMessageType Type, byte[] Data, WebSocketCloseStatus? CloseStatus, string? CloseReason);

    private sealed class DuplexPipeStream : Stream
    {
        private readonly Stream _read;
        private readonly Stream _write;

        public DuplexPipeStream(PipeReader reader, PipeWriter writer)
        {
            _read = reader.AsStream();
            _write = writer.AsStream();
        }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override void Flush() => _write.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => _write.FlushAsync(cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => _read.Read(buffer, offset, count);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            _read.ReadAsync(buffer, offset, count, cancellationToken);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            _read.ReadAsync(buffer, cancellationToken);

        public override void Write(byte[] buffer, int offset, int count) => _write.Write(buffer, offset, count);

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            _write.WriteAsync(buffer, offset, count, cancellationToken);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
            _write.WriteAsync(buffer, cancellationToken);

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                // Disposing the pipe streams completes the pipes: the peer's reads end, our further writes fail.
                _read.Dispose();
                _write.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
