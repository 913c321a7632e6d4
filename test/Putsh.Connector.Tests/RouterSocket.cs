using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using System.Text;
using Putsh.Tests.Common;

namespace Putsh.Connector.Tests;

/// <summary>One whole WebSocket message as the router received it; for a close, the peer's status and reason.</summary>
internal sealed record WsMessage(WebSocketMessageType Type, byte[] Data, WebSocketCloseStatus? CloseStatus, string? CloseDescription)
{
    public string Text => Encoding.UTF8.GetString(Data);
}

/// <summary>Everything the connector sent on one socket up to and including its close.</summary>
internal sealed record ConnectorReply(IReadOnlyList<WsMessage> Messages)
{
    public IReadOnlyList<WebSocketMessageType> Sequence => [.. Messages.Select(m => m.Type)];

    public IReadOnlyList<string> Texts => [.. Messages.Where(m => m.Type == WebSocketMessageType.Text).Select(m => m.Text)];

    public IReadOnlyList<byte[]> BinaryMessages => [.. Messages.Where(m => m.Type == WebSocketMessageType.Binary).Select(m => m.Data)];

    public byte[] Body => [.. BinaryMessages.SelectMany(b => b)];

    public WsMessage Close => Messages[^1];
}

/// <summary>The router's end of one connector socket, driven by the test.</summary>
internal sealed class RouterSocket(Handshake handshake, WebSocket webSocket)
{
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Handshake Handshake { get; } = handshake;

    public WebSocket WebSocket { get; } = webSocket;

    /// <summary>Completes when the test lets the fake router's request handler return.</summary>
    public Task Released => _released.Task;

    public void Release() => _released.TrySetResult();

    public Task SendTextAsync(string text, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0) =>
        WebSocket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None).DefaultTimeout(file, line);

    public Task SendBinaryAsync(byte[] data, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0) =>
        WebSocket.SendAsync(data, WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None).DefaultTimeout(file, line);

    /// <summary>Starts the router's side of a closing handshake.</summary>
    public Task CloseOutputAsync(WebSocketCloseStatus status, string reason, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0) =>
        WebSocket.CloseOutputAsync(status, reason, CancellationToken.None).DefaultTimeout(file, line);

    /// <summary>Reads one whole message, however many frames it came in.</summary>
    public Task<WsMessage> ReceiveAsync([CallerFilePath] string file = "", [CallerLineNumber] int line = 0) =>
        ReceiveCoreAsync().DefaultTimeout(file, line);

    private async Task<WsMessage> ReceiveCoreAsync()
    {
        // Bigger than any legal frame (64 KiB), so an oversized frame shows up as an oversized message.
        var buffer = new byte[128 * 1024];
        using var data = new MemoryStream();
        while (true)
        {
            var result = await WebSocket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return new WsMessage(WebSocketMessageType.Close, [], WebSocket.CloseStatus, WebSocket.CloseStatusDescription);
            }

            data.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                return new WsMessage(result.MessageType, data.ToArray(), null, null);
            }
        }
    }

    /// <summary>
    /// Reads everything the connector sends until its close, then answers the close as a router does (§4.1: the
    /// router echoes the close frame).
    /// </summary>
    public Task<ConnectorReply> ReadReplyAsync([CallerFilePath] string file = "", [CallerLineNumber] int line = 0) =>
        ReadReplyCoreAsync().DefaultTimeout(file, line);

    private async Task<ConnectorReply> ReadReplyCoreAsync()
    {
        var messages = new List<WsMessage>();
        while (true)
        {
            var message = await ReceiveCoreAsync();
            messages.Add(message);
            if (message.Type == WebSocketMessageType.Close)
            {
                if (WebSocket.State == WebSocketState.CloseReceived)
                {
                    await WebSocket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
                }

                Release();
                return new ConnectorReply(messages);
            }
        }
    }
}
