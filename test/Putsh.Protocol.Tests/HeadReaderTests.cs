using Putsh.Protocol.Headers;

namespace Putsh.Protocol.Tests;

/// <summary>
/// The in-place head readers of <see cref="HeadParser"/>: the same results as the string readers (which are
/// built on them), checked here on their own, plus <see cref="KnownHeadStrings"/>.
/// </summary>
public class HeadReaderTests
{
    private static List<(string Name, string Value)> Headers(HeaderLineEnumerator headers)
    {
        var list = new List<(string, string)>();
        foreach (var h in headers)
        {
            list.Add((h.Name.ToString(), h.Value.ToString()));
        }

        return list;
    }

    // ---- requests ----

    [Fact]
    public void TryReadRequest_WorkedV1Example()
    {
        const string text = "POST /my-app/upload?x=1 HTTP/1.1\nHost:router:8443\nContent-Length:5\n\n_1";

        Assert.True(HeadParser.TryReadRequest(text, expectMarker: true, out var head, out var error));

        Assert.Null(error);
        Assert.Equal("POST", head.Method.ToString());
        Assert.Equal("/my-app/upload?x=1", head.Target.ToString());
        Assert.Same(V1.V1Markers.RequestHasBody, head.Marker);
        Assert.Equal([("Host", "router:8443"), ("Content-Length", "5")], Headers(head.Headers));
    }

    [Fact]
    public void TryReadRequest_V3Text_CrLfAndSpaces()
    {
        const string text = "PUT /up HTTP/1.1\r\nHost: example.com\r\nX-Pad:\t  spaced  \r\nnocolon\r\n:novalue\r\n : x\r\n\r\n";

        Assert.True(HeadParser.TryReadRequest(text, expectMarker: false, out var head, out _));

        Assert.Null(head.Marker);
        Assert.Equal([("Host", "example.com"), ("X-Pad", "spaced")], Headers(head.Headers));
    }

    [Theory]
    [InlineData("", true, "request head does not end with _1 or _2")]
    [InlineData("GET / HTTP/1.1\n\n_3", true, "request head does not end with _1 or _2")]
    [InlineData("_2", true, "malformed request line")]
    [InlineData("GET / HTTP/1.1", true, "request head does not end with _1 or _2")]
    [InlineData("GET /\n\n_2", true, "malformed request line")]
    [InlineData("GET  / HTTP/1.1\n\n", false, "malformed request line")]
    [InlineData(" GET / HTTP/1.1\n\n", false, "malformed request line")]
    [InlineData("GET http://x/ HTTP/1.1\n\n", false, "request target must be an absolute path")]
    [InlineData("", false, "malformed request line")]
    [InlineData("\n\n", false, "malformed request line")]
    public void TryReadRequest_MalformedHeads(string text, bool expectMarker, string expectedError)
    {
        Assert.False(HeadParser.TryReadRequest(text, expectMarker, out var head, out var error));
        Assert.Equal(expectedError, error);
        Assert.True(head.Method.IsEmpty);

        // The string reader, built on it, agrees.
        Assert.False(HeadParser.TryParseRequest(text, expectMarker, out var parsed, out var error2));
        Assert.Null(parsed);
        Assert.Equal(expectedError, error2);
    }

    [Fact]
    public void TryReadRequest_OptionsStar_AndNoHeaders()
    {
        Assert.True(HeadParser.TryReadRequest("OPTIONS * HTTP/1.1\n_2", expectMarker: true, out var head, out _));

        Assert.Equal("*", head.Target.ToString());
        Assert.True(head.HeaderLines.IsEmpty);
        Assert.Empty(Headers(head.Headers));
    }

    [Fact]
    public void TryParseRequest_UsesSharedStringsForCommonMethodsAndNames()
    {
        Assert.True(HeadParser.TryParseRequest("GET / HTTP/1.1\nhost:a\nX-Custom:b\n\n", false, out var head, out _));

        Assert.Same(KnownHeadStrings.Get("GET"), head!.Method);
        Assert.Same(KnownHeadStrings.Get("host"), head.Headers[0].Key);
        Assert.Equal("X-Custom", head.Headers[1].Key);
    }

    // ---- responses ----

    [Fact]
    public void TryReadResponse_StatusAndHeaders()
    {
        const string text = "HTTP/1.1 200 TODO\ncontent-length:5\nset-cookie:a=1\nset-cookie:b=2\n";

        Assert.True(HeadParser.TryReadResponse(text, out var head));

        Assert.Equal(200, head.Status);
        Assert.Equal([("content-length", "5"), ("set-cookie", "a=1"), ("set-cookie", "b=2")], Headers(head.Headers));
    }

    [Fact]
    public void TryReadResponse_StatusLineOnly()
    {
        Assert.True(HeadParser.TryReadResponse("HTTP/1.1 304 Not Modified", out var head));

        Assert.Equal(304, head.Status);
        Assert.Empty(Headers(head.Headers));
    }

    [Fact]
    public void TryParseResponse_FromCharacters_AppendsHeaders()
    {
        var headers = new List<KeyValuePair<string, string>>();

        Assert.True(HeadParser.TryParseResponse("HTTP/1.1 201 Created\nLocation: /x/1\r\nContent-Type:text/plain\n".AsSpan(), out var status, headers));

        Assert.Equal(201, status);
        Assert.Equal([new("Location", "/x/1"), new("Content-Type", "text/plain")], headers);
        Assert.Same(KnownHeadStrings.Get("Content-Type"), headers[1].Key);
    }

    // The former implementation of the status rule, kept as the reference.
    private static bool LegacyStatus(string text, out int status)
    {
        var statusLine = text.Split('\n')[0].TrimEnd('\r');
        var parts = statusLine.Split(' ', 3, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 2 || !parts[0].StartsWith("HTTP/", StringComparison.Ordinal)
            || parts[1].Length != 3 || !int.TryParse(parts[1], out status) || status < 100 || status > 999)
        {
            status = 0;
            return false;
        }

        return true;
    }

    [Theory]
    [InlineData("HTTP/1.1 200 OK")]
    [InlineData("HTTP/1.1 200")]
    [InlineData("HTTP/1.1 200\r")]
    [InlineData("HTTP/1.1 200\r\r\nx:1")]
    [InlineData("  HTTP/1.1   404   Not Found  ")]
    [InlineData("HTTP/2 418 I'm a teapot")]
    [InlineData("HTTP/1.0 999 X")]
    [InlineData("HTTP/1.1 100 Continue\n")]
    [InlineData("")]
    [InlineData("HTTP/1.1")]
    [InlineData("HTTP/1.1 ")]
    [InlineData("HTTP/1.1 abc OK")]
    [InlineData("HTTP/1.1 20 OK")]
    [InlineData("HTTP/1.1 2000 OK")]
    [InlineData("HTTP/1.1 099 OK")]
    [InlineData("HTTP/1.1 -20 OK")]
    [InlineData("HTTP/1.1 +20 OK")]
    [InlineData("HTTP/1.1 2x0 OK")]
    [InlineData("HTTP/1.1 200\tOK")]
    [InlineData("HTTP/1.1\t200 OK")]
    [InlineData("HTTP/1.1 ٢٠٠ OK")] // Arabic-Indic digits are not a status
    [InlineData("http/1.1 200 OK")]
    [InlineData("FOO/1.1 200 OK")]
    [InlineData("200 OK")]
    [InlineData("\nHTTP/1.1 200 OK")]
    [InlineData("content-length:5\nHTTP/1.1 200 OK")]
    public void TryReadResponse_ReadsTheStatusByTheFormerRule(string text)
    {
        var expectedOk = LegacyStatus(text, out var expected);

        Assert.Equal(expectedOk, HeadParser.TryReadResponse(text, out var head));
        Assert.Equal(expected, head.Status);
    }

    // ---- header lines ----

    [Theory]
    [InlineData("a:b", "a", "b")]
    [InlineData("Name: value", "Name", "value")]
    [InlineData(" Name :\t value \t\r", "Name", "value")]
    [InlineData("referer:https://a.example:8443/x", "referer", "https://a.example:8443/x")]
    [InlineData("empty:", "empty", "")]
    public void TryReadHeaderLine_Splits_AtTheFirstColon(string line, string name, string value)
    {
        Assert.True(HeadParser.TryReadHeaderLine(line, out var n, out var v));
        Assert.Equal(name, n.ToString());
        Assert.Equal(value, v.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("\r")]
    [InlineData("nocolon")]
    [InlineData(":novalue")]
    [InlineData(" : x")]
    [InlineData("_2")]
    public void TryReadHeaderLine_SkipsLinesWithoutAName(string line)
    {
        Assert.False(HeadParser.TryReadHeaderLine(line, out _, out _));
    }

    [Fact]
    public void EnumerateHeaders_EmptyAndBlankInput()
    {
        Assert.Empty(Headers(HeadParser.EnumerateHeaders("")));
        Assert.Empty(Headers(HeadParser.EnumerateHeaders("\n\n\r\n")));
        Assert.Equal([("x", "1")], Headers(HeadParser.EnumerateHeaders("x:1")));
    }

    // ---- shared strings ----

    [Theory]
    [InlineData("content-type")]
    [InlineData("Content-Type")]
    [InlineData("X-Forwarded-For")]
    [InlineData("ETag")]
    [InlineData("etag")]
    [InlineData("GET")]
    public void KnownHeadStrings_ReturnsTheSameInstance(string value)
    {
        var span = value.ToCharArray().AsSpan();

        var first = KnownHeadStrings.Get(span);
        Assert.Equal(value, first);
        Assert.Same(first, KnownHeadStrings.Get(span));
    }

    [Theory]
    [InlineData("CONTENT-TYPE")]
    [InlineData("x-my-header")]
    [InlineData("get")]
    [InlineData("")]
    public void KnownHeadStrings_OtherSpellings_AreNewStrings(string value)
    {
        Assert.Equal(value, KnownHeadStrings.Get(value.ToCharArray()));
    }
}
