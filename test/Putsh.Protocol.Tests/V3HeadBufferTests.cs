using System.Text;
using Putsh.Protocol.Headers;
using Putsh.Protocol.V3;

namespace Putsh.Protocol.Tests;

public class V3HeadBufferTests
{
    [Fact]
    public void Pieces_AreJoined_AndReadableInPlace()
    {
        using var buffer = new V3HeadBuffer(16);

        Assert.True(buffer.TryAppend("HTTP/1.1 200 OK\ncontent-"u8));
        Assert.True(buffer.TryAppend("type:text/plain\nx:é\n"u8));

        Assert.Equal("HTTP/1.1 200 OK\ncontent-type:text/plain\nx:é\n", buffer.Text.ToString());
        Assert.True(HeadParser.TryReadResponse(buffer.Text, out var head));
        Assert.Equal(200, head.Status);
    }

    [Fact]
    public void A_large_head_in_pieces_grows_the_buffer()
    {
        var head = string.Concat(Enumerable.Repeat("x-long:ünïcödé 😀\n", 2500));
        using var buffer = new V3HeadBuffer();
        foreach (var piece in V3Frame.EnumerateHeadPieces(head))
        {
            Assert.True(buffer.TryAppend(Encoding.UTF8.GetBytes(piece.Text.ToString())));
        }

        Assert.Equal(head, buffer.Text.ToString());
    }

    [Fact]
    public void An_empty_piece_appends_nothing()
    {
        using var buffer = new V3HeadBuffer();

        Assert.True(buffer.TryAppend([]));
        Assert.Equal(0, buffer.Length);
    }

    [Fact]
    public void Over_the_limit_nothing_is_appended()
    {
        using var buffer = new V3HeadBuffer(8);
        Assert.True(buffer.TryAppend("abcdef"u8, maxChars: 10));

        Assert.False(buffer.TryAppend("ghijkl"u8, maxChars: 10));
        Assert.Equal("abcdef", buffer.Text.ToString());

        buffer.Clear();
        Assert.True(buffer.TryAppend("abcdefghij"u8, maxChars: 10));
        Assert.False(buffer.TryAppend("k"u8, maxChars: 10)); // fits the storage but not the limit
        Assert.Equal(10, buffer.Length);
    }

    [Fact]
    public void Clear_keeps_the_buffer_for_the_next_head()
    {
        using var buffer = new V3HeadBuffer();
        buffer.TryAppend("first"u8);

        buffer.Clear();
        buffer.TryAppend("second"u8);

        Assert.Equal("second", buffer.Text.ToString());
    }
}
