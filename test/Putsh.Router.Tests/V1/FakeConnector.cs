using System.Net.WebSockets;
using System.Text;
using Putsh.Tests.Common;

namespace Putsh.Router.Tests.V1;

/// <summary>A hand-driven connector socket: the test decides every byte it sends and sees every byte it gets.</summary>
internal sealed class FakeConnector : IAsyncDisposable
{
    private readonly byte[] _buffer = new byte[256 * 1024];

    private readonly Stream? _raw;

    private FakeConnector(WebSocket socket, Stream? raw = null)
    {
        Socket = socket;
        _raw = raw;
    }

    public WebSocket Socket { get; }

    /// <summary>The handshake response headers (for sockets opened with <see cref="ConnectAsync"/>).</summary>
    public IReadOnlyDictionary<string, IEnumerable<string>>? ResponseHeaders => (Socket as ClientWebSocket)?.HttpResponseHeaders;

    /// <summary>
    /// Opens a socket over a raw TCP connection, so that the test can also write frames that .NET's WebSocket never
    /// writes (a close frame without a status code, as the npm connector sends).
    /// </summary>
    public static async Task<FakeConnector> ConnectRawAsync(Uri registerUri, string route, string instanceId = "raw-1")
    {
        var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(registerUri.Host, registerUri.Port).DefaultTimeout();
        var stream = tcp.GetStream();
        var key = Convert.ToBase64String(Guid.NewGuid().ToByteArray());
        var request = $"GET /register?connectorInstanceID={instanceId} HTTP/1.1\r\nHost: {registerUri.Authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + $"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nCrankerProtocol: 1.0\r\nRoute: {route}\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request)).AsTask().DefaultTimeout();

        // Read the 101 response byte by byte up to the blank line, so no frame bytes are consumed.
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            Assert.Equal(1, await stream.ReadAsync(one).AsTask().DefaultTimeout());
            head.Append((char)one[0]);
        }

        Assert.StartsWith("HTTP/1.1 101", head.ToString());
        var socket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions { IsServer = false, KeepAliveInterval = TimeSpan.Zero });
        return new FakeConnector(socket, stream);
    }

    /// <summary>Writes a masked close frame with an empty payload: no status code at all.</summary>
    public Task SendCloseWithoutCodeAsync() =>
        _raw!.WriteAsync(new byte[] { 0x88, 0x80, 0, 0, 0, 0 }).AsTask().DefaultTimeout();

    public static async Task<FakeConnector> ConnectAsync(Uri registerUri, string route, string instanceId = "fake-1", bool legacyHeader = true, params string[] subprotocols)
    {
        var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        if (legacyHeader)
        {
            socket.Options.SetRequestHeader("CrankerProtocol", "1.0");
        }

        foreach (var p in subprotocols)
        {
            socket.Options.AddSubProtocol(p);
        }

        socket.Options.SetRequestHeader("Route", route);
        await socket.ConnectAsync(new Uri(registerUri, $"/register/?connectorInstanceID={instanceId}&componentName=fake"), TestTimeouts.Token()).DefaultTimeout();
        return new FakeConnector(socket);
    }

    /// <summary>Receives one whole message.</summary>
    public async Task<(WebSocketMessageType Type, byte[] Data)> ReceiveAsync()
    {
        var length = 0;
        while (true)
        {
            var result = await Socket.ReceiveAsync(_buffer.AsMemory(length), TestTimeouts.Token()).AsTask().DefaultTimeout();
            length += result.Count;
            if (result.MessageType == WebSocketMessageType.Close || result.EndOfMessage)
            {
                return (result.MessageType, _buffer.AsSpan(0, length).ToArray());
            }
        }
    }

    public async Task<string> ReceiveTextAsync()
    {
        var (type, data) = await ReceiveAsync();
        Assert.Equal(WebSocketMessageType.Text, type);
        return Encoding.UTF8.GetString(data);
    }

    public Task SendTextAsync(string text) =>
        Socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, TestTimeouts.Token()).DefaultTimeout();

    public Task SendBinaryAsync(byte[] data) =>
        Socket.SendAsync(data, WebSocketMessageType.Binary, true, TestTimeouts.Token()).DefaultTimeout();

    public async ValueTask DisposeAsync()
    {
        Socket.Abort();
        Socket.Dispose();
        await Task.CompletedTask;
    }
}
