using Putsh.Protocol.V3;

namespace Putsh.Protocol.Tests;

public sealed class V3FlowWindowExtensionTests
{
    [Theory]
    [InlineData("flow-window=1048576", 1048576)]
    [InlineData("websocket, flow-window=262144", 262144)]
    [InlineData(" websocket ,  FLOW-WINDOW = 131072 ", 131072)]
    [InlineData("websocket", 0)]
    [InlineData("flow-window=65536", 0)] // not larger than §5.6's window
    [InlineData("flow-window=16777217", 0)] // above 16 MiB
    [InlineData("flow-window=-5", 0)]
    [InlineData("flow-window=1e6", 0)]
    [InlineData("flow-window=", 0)]
    [InlineData("flow-windowx=262144", 0)]
    public void Parse_reads_a_valid_window_or_0(string value, int expected) =>
        Assert.Equal(expected, FlowWindowExtension.Parse([value]));

    [Theory]
    [InlineData(1048576, 1048576, 1048576)]
    [InlineData(8388608, 1048576, 1048576)]
    [InlineData(262144, 1048576, 262144)]
    [InlineData(0, 1048576, 0)]
    [InlineData(1048576, 0, 0)]
    [InlineData(1048576, 65536, 0)]
    public void Agree_takes_the_smaller_and_only_above_64_KiB(int offered, int limit, int expected) =>
        Assert.Equal(expected, FlowWindowExtension.Agree(offered, limit));

    [Fact]
    public void A_larger_window_pauses_above_it_and_resumes_below_a_quarter_of_it()
    {
        var window = new FlowWindow(256 * 1024);
        window.OnSent(256 * 1024);
        Assert.True(window.WaitWritableAsync(CancellationToken.None).IsCompleted); // at the mark, not above it
        window.OnSent(1);
        var waiting = window.WaitWritableAsync(CancellationToken.None);
        Assert.False(waiting.IsCompleted);
        window.OnAcknowledged((256 * 1024) - (64 * 1024) + 1); // 64 KiB left: not below a quarter yet
        Assert.False(waiting.IsCompleted);
        window.OnAcknowledged(1);
        Assert.True(waiting.IsCompleted);
    }

    [Theory]
    [InlineData(false, 0, 3 /* Both */, null)]
    [InlineData(true, 0, 0 /* None */, "websocket")] // no-head-ack only beside a flow-window
    [InlineData(false, 262144, 3 /* Both */, "flow-window=262144")]
    [InlineData(false, 262144, 0 /* None */, "flow-window=262144, no-head-ack")]
    [InlineData(false, 262144, 1 /* Request */, "flow-window=262144, no-response-head-ack")]
    [InlineData(true, 1048576, 0 /* None */, "websocket, flow-window=1048576, no-head-ack")]
    public void The_extensions_value_names_what_is_offered_or_agreed(bool webSocket, int window, int acks, string? expected) =>
        Assert.Equal(expected, WsFrame.ExtensionsValue(webSocket, window, (HeadAcks)acks));

    [Theory]
    [InlineData("flow-window=262144", 262144, 3 /* Both */)]
    [InlineData("flow-window=262144, no-head-ack", 262144, 0 /* None */)]
    [InlineData("flow-window=262144, no-response-head-ack", 262144, 1 /* Request */)]
    [InlineData("websocket, no-head-ack", 0, 3 /* Both */)] // without a window, §5.3 exactly
    [InlineData("flow-window=262144, no-head-ack, no-response-head-ack", 262144, 0 /* None */)]
    public void Head_acknowledgements_follow_what_was_named(string value, int window, int expected) =>
        Assert.Equal((HeadAcks)expected, FlowWindowExtension.ParseHeadAcks([value], window));

    [Fact]
    public void Head_bytes_count_against_the_window_unless_heads_are_not_acknowledged()
    {
        var counting = new FlowWindow(V3Frame.HighWatermark);
        counting.OnHeadSent(1000);
        Assert.Equal(1000, counting.Unacked);

        var notCounting = new FlowWindow(1024 * 1024, countsHeads: false);
        notCounting.OnHeadSent(1000);
        notCounting.OnSent(500);
        Assert.Equal(500, notCounting.Unacked);
    }
}
