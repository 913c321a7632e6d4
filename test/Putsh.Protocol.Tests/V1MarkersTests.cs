using System.Text;
using Putsh.Protocol.V1;

namespace Putsh.Protocol.Tests;

public class V1MarkersTests
{
    private const string Head = "GET /a HTTP/1.1\nAccept:*/*\n\n";

    [Theory]
    [InlineData(true, "_1")]
    [InlineData(false, "_2")]
    public void WriteRequestHead_IsTheHeadThenTheMarker(bool hasBody, string marker)
    {
        var buffer = new byte[V1Markers.MaxRequestHeadBytes(Head.Length)];

        var n = V1Markers.WriteRequestHead(buffer, Head, hasBody);

        Assert.Equal(Encoding.UTF8.GetBytes(Head + marker), buffer[..n]);
    }

    [Fact]
    public void WriteRequestHead_WorkedExampleFromSpec_AndNonAscii()
    {
        const string head = "POST /my-app/upload?x=1 HTTP/1.1\nHost:router:8443\nContent-Length:5\nContent-Type:text/plain\nvia:HTTP/1.1 muc\n"
            + "forwarded:by=10.0.0.4;for=127.0.0.1;host=\"router:8443\";proto=https\n\n";
        var buffer = new byte[V1Markers.MaxRequestHeadBytes(head.Length)];

        var n = V1Markers.WriteRequestHead(buffer, head, hasBody: true);
        Assert.Equal(Encoding.UTF8.GetBytes(head + "_1"), buffer[..n]);

        n = V1Markers.WriteRequestHead(buffer, "GET /é HTTP/1.1\n\n", hasBody: false);
        Assert.Equal("GET /\u00e9 HTTP/1.1\n\n_2"u8.ToArray(), buffer[..n]);
    }

    [Fact]
    public void WriteRequestHead_EmptyHead_IsTheMarkerAlone()
    {
        var buffer = new byte[2];

        Assert.Equal(2, V1Markers.WriteRequestHead(buffer, "", hasBody: false));
        Assert.Equal("_2"u8.ToArray(), buffer);
    }

    [Fact]
    public void The_utf8_markers_are_the_string_markers()
    {
        Assert.Equal(Encoding.UTF8.GetBytes(V1Markers.RequestHasBody), V1Markers.RequestHasBodyUtf8.ToArray());
        Assert.Equal(Encoding.UTF8.GetBytes(V1Markers.RequestHasNoBody), V1Markers.RequestHasNoBodyUtf8.ToArray());
        Assert.Equal(Encoding.UTF8.GetBytes(V1Markers.RequestBodyEnded), V1Markers.RequestBodyEndedUtf8.ToArray());
    }

    [Theory]
    [InlineData(Head + "_1", true, Head)]
    [InlineData(Head + "_2", false, Head)]
    [InlineData("GET / HTTP/1.1\r\nA: b\r\n\r\n_1\r", true, "GET / HTTP/1.1\r\nA: b\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\n\n_2\r\r", false, "GET / HTTP/1.1\n\n")]
    [InlineData("_2", false, "")] // no line break: the whole text is the marker line
    [InlineData("\n_1", true, "\n")]
    public void TryReadMarker_ReadsTheLastLine(string message, bool hasBody, string head)
    {
        Assert.True(V1Markers.TryReadMarker(message.AsSpan(), out var body, out var before));
        Assert.Equal(hasBody, body);
        Assert.Equal(head, before.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData(Head)]
    [InlineData(Head + "_3")]
    [InlineData(Head + "_1 ")]
    [InlineData(Head + " _1")]
    [InlineData(Head + "_12")]
    [InlineData(Head + "_")]
    [InlineData("_1\n")] // the marker must be the last line
    [InlineData("GET / HTTP/1.1\n\n_2\n")]
    public void TryReadMarker_RejectsAnythingElse(string message)
    {
        Assert.False(V1Markers.TryReadMarker(message.AsSpan(), out var hasBody, out var head));
        Assert.False(hasBody);
        Assert.True(head.IsEmpty);
    }

    [Theory]
    [InlineData("_3", true)]
    [InlineData("_3\n", false)]
    [InlineData("_1", false)]
    [InlineData("_", false)]
    [InlineData("", false)]
    [InlineData("x_3", false)]
    public void IsRequestBodyEnded_OnlyTheWholeMessage(string message, bool expected)
    {
        Assert.Equal(expected, V1Markers.IsRequestBodyEnded(Encoding.UTF8.GetBytes(message)));
    }
}
