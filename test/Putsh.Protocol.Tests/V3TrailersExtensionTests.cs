using System.Net.WebSockets;
using System.Text;
using Putsh.Protocol.Transport;
using Putsh.Protocol.V3;

namespace Putsh.Protocol.Tests;

/// <summary>The <c>trailers</c> extension's wire form (docs/protocol.md §12.8), byte for byte.</summary>
public sealed class V3TrailersExtensionTests
{
    [Fact]
    public async Task A_trailer_section_is_one_HEADER_with_END_HEADER_and_END_STREAM()
    {
        var text = new StringBuilder();
        Assert.True(TrailersExtension.TryAppend(text, "Grpc-Status", "0"));
        Assert.True(TrailersExtension.TryAppend(text, "grpc-message", ""));

        var messages = await SendAsync(3, text.ToString());

        var message = Assert.Single(messages);
        Assert.Equal(
            "01" + "05" + "00000003" + Convert.ToHexString("grpc-status:0\ngrpc-message:\n"u8),
            Convert.ToHexString(message));
    }

    [Fact]
    public async Task A_long_trailer_section_is_cut_as_a_head_is_with_END_STREAM_on_the_last_piece_only()
    {
        var text = new StringBuilder();
        Assert.True(TrailersExtension.TryAppend(text, "x-long", new string('a', 20_000)));

        var messages = await SendAsync(1, text.ToString());

        Assert.Equal(2, messages.Count);
        Assert.Equal("010000000001", Convert.ToHexString(messages[0].AsSpan(0, 6)));
        Assert.Equal(6 + 16_000, messages[0].Length);
        Assert.Equal("010500000001", Convert.ToHexString(messages[1].AsSpan(0, 6)));
        Assert.Equal(text.ToString(), Encoding.UTF8.GetString(messages[0].AsSpan(6)) + Encoding.UTF8.GetString(messages[1].AsSpan(6)));
    }

    [Theory]
    [InlineData("grpc-status", true)]
    [InlineData("x-checksum", true)]
    [InlineData("content-length", false)]
    [InlineData("Transfer-Encoding", false)]
    [InlineData("connection", false)]
    [InlineData("te", false)]
    [InlineData("trailer", false)]
    [InlineData("host", false)]
    [InlineData("authorization", false)]
    [InlineData("content-type", false)]
    [InlineData(":status", false)]
    [InlineData("", false)]
    public void Only_fields_that_may_be_trailers_are_sent_or_read(string name, bool allowed)
    {
        Assert.Equal(allowed, TrailersExtension.MayBeTrailer(name));
        Assert.Equal(allowed, TrailersExtension.TryAppend(new StringBuilder(), name, "v"));
    }

    [Fact]
    public void Values_that_would_break_the_line_are_left_out()
    {
        var text = new StringBuilder();
        Assert.False(TrailersExtension.TryAppend(text, "x-a", "one\ntwo"));
        Assert.False(TrailersExtension.TryAppend(text, "x-a", "one\rtwo"));
        Assert.False(TrailersExtension.TryAppend(text, "x-a", null));
        Assert.Equal("", text.ToString());
    }

    [Fact]
    public void Reading_a_section_keeps_order_lower_cases_names_and_drops_what_may_not_be_a_trailer()
    {
        var fields = new List<KeyValuePair<string, string>>();
        TrailersExtension.Read("Grpc-Status: 13\ncontent-length:5\nno colon here\ngrpc-message:boom \nx-a:1\nx-a:2\n", fields);
        Assert.Equal(
            [new("grpc-status", "13"), new("grpc-message", "boom"), new("x-a", "1"), new("x-a", "2")],
            fields);
    }

    [Theory]
    [InlineData("websocket, flow-window=1048576, no-response-head-ack, trailers", true)]
    [InlineData(" TRAILERS ", true)]
    [InlineData("websocket, flow-window=1048576", false)]
    [InlineData("trailers=1", false)]
    public void The_token_is_found_among_the_others(string value, bool named) =>
        Assert.Equal(named, TrailersExtension.IsNamed([value]));

    [Fact]
    public void The_token_comes_last_in_what_a_putsh_peer_writes()
    {
        Assert.Equal("websocket, flow-window=1048576, no-response-head-ack, trailers", WsFrame.ExtensionsValue(true, 1048576, HeadAcks.Request, trailers: true));
        Assert.Equal("trailers", WsFrame.ExtensionsValue(false, 0, trailers: true));
        Assert.Equal("websocket", WsFrame.ExtensionsValue(true, 0));
    }

    private static async Task<List<byte[]>> SendAsync(int id, string text)
    {
        using var pair = new InMemoryWebSocketPair();
        using var gate = new SendGate(pair.Client);
        var sender = new V3Sender(gate);
        var window = new FlowWindow(FlowWindowExtension.Max);
        await sender.SendTrailersAsync(id, text, window, CancellationToken.None);
        await pair.Client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
        var received = await InMemoryWebSocketPair.ReceiveAllAsync(pair.Server, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        return [.. received.Where(m => m.Type == WebSocketMessageType.Binary).Select(m => m.Data)];
    }
}
