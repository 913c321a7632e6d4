using System.Net;
using System.Net.WebSockets;
using Putsh.Protocol.Transport;
using Putsh.Protocol.V3;

namespace Putsh.Protocol.Tests;

/// <summary>The <c>tcp</c> extension's wire form (docs/protocol.md §12.9), byte for byte.</summary>
public sealed class V3TcpExtensionTests
{
    [Fact]
    public void The_token_is_offered_last_and_read_back_from_an_answer()
    {
        Assert.Equal("flow-window=1048576, no-response-head-ack, tcp", WsFrame.ExtensionsValue(false, 1048576, HeadAcks.Request, trailers: false, tcp: true));
        Assert.True(TcpExtension.IsNamed(["flow-window=1048576", "tcp"]));
        Assert.False(TcpExtension.IsNamed(["websocket, trailers"]));
    }

    [Fact]
    public async Task The_opening_head_is_the_example_of_12_9()
    {
        var head = TcpExtension.OpenHead("redis", IPEndPoint.Parse("127.0.0.1:40000"), IPEndPoint.Parse("127.0.0.1:6380"));
        Assert.Equal("CONNECT redis HTTP/1.1\nforwarded:for=\"127.0.0.1:40000\";by=\"127.0.0.1:6380\"\n\n", head);

        using var pair = new InMemoryWebSocketPair();
        using var gate = new SendGate(pair.Client);
        await new V3Sender(gate).SendHeadAsync(5, head, endStream: false, endStreamOnEveryPiece: false, new FlowWindow(FlowWindowExtension.Max), CancellationToken.None);
        await pair.Client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
        var received = await InMemoryWebSocketPair.ReceiveAllAsync(pair.Server, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        var message = Assert.Single(received, m => m.Type == WebSocketMessageType.Binary);
        Assert.Equal("010400000005" + Convert.ToHexString(System.Text.Encoding.UTF8.GetBytes(head)), Convert.ToHexString(message.Data));
    }

    [Theory]
    [InlineData("HTTP/1.1 200 Connected\n", true)]
    [InlineData("HTTP/1.1 502 Bad Gateway\n", false)]
    public void Only_a_200_answer_connects(string answer, bool connected) =>
        Assert.Equal(connected, TcpExtension.IsConnected(answer));
}
