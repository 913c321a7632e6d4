using Putsh.Protocol.V3;

namespace Putsh.Protocol.Tests;

public sealed class WsFrameTests
{
    [Fact]
    public void A_close_carries_kind_flags_big_endian_code_and_reason()
    {
        var buffer = new byte[200];
        var n = WsFrame.WriteClose(buffer, 4001, "bye");
        Assert.Equal(new byte[] { 0x08, 0x01, 0x0F, 0xA1, (byte)'b', (byte)'y', (byte)'e' }, buffer[..n]);
        Assert.Equal((4001, "bye"), WsFrame.ReadClose(buffer.AsSpan(0, n)));
    }

    [Fact]
    public void A_close_without_a_code_is_two_bytes_and_its_reason_is_cut_to_123_bytes()
    {
        var buffer = new byte[200];
        Assert.Equal(2, WsFrame.WriteClose(buffer, null, "ignored"));
        Assert.Equal(((int?)null, ""), WsFrame.ReadClose(buffer.AsSpan(0, 2)));
        Assert.Equal(2 + 2 + 123, WsFrame.WriteClose(buffer, 1000, new string('x', 300)));
    }

    [Theory]
    [InlineData("websocket", true)]
    [InlineData("other, WebSocket ", true)]
    [InlineData("websockets", false)]
    [InlineData("", false)]
    public void The_extension_is_found_among_comma_separated_tokens(string value, bool expected) =>
        Assert.Equal(expected, WsFrame.Names([value], WsFrame.WebSocketExtension));

    [Theory]
    [InlineData(1000, true)]
    [InlineData(1005, false)]
    [InlineData(1006, false)]
    [InlineData(1011, true)]
    [InlineData(2999, false)]
    [InlineData(4999, true)]
    [InlineData(5000, false)]
    public void Only_sendable_close_codes_are_relayed_as_they_are(int code, bool expected) =>
        Assert.Equal(expected, WsFrame.IsSendable(code));

    [Fact]
    public void A_fragment_and_its_header_fit_one_data_message()
    {
        // With the longest WebSocket frame header around it, the DATA message still fits one 64 KiB buffer.
        Assert.Equal(65536, V3Frame.WebSocketHeaderMax + V3Frame.PrefixLength + WsFrame.HeaderLength + WsFrame.MaxFragment);
    }
}
