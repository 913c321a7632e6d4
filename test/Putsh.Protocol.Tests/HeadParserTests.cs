using Putsh.Protocol.Headers;

namespace Putsh.Protocol.Tests;

public class HeadParserTests
{
    private const string WorkedExampleRequest =
        "POST /my-app/upload?x=1 HTTP/1.1\nHost:router:8443\nContent-Length:5\nContent-Type:text/plain\nvia:HTTP/1.1 muc\n"
        + "forwarded:by=10.0.0.4;for=127.0.0.1;host=\"router:8443\";proto=https\n\n_1";

    private static KeyValuePair<string, string> H(string name, string value) => new(name, value);

    // ---- requests ----

    [Fact]
    public void TryParseRequest_WorkedV1Example()
    {
        Assert.True(HeadParser.TryParseRequest(WorkedExampleRequest, expectMarker: true, out var head, out var error));

        Assert.Null(error);
        Assert.NotNull(head);
        Assert.Equal("POST", head.Method);
        Assert.Equal("/my-app/upload?x=1", head.Target);
        Assert.Equal("_1", head.Marker);
        Assert.Equal(
            [
                H("Host", "router:8443"),
                H("Content-Length", "5"),
                H("Content-Type", "text/plain"),
                H("via", "HTTP/1.1 muc"),
                H("forwarded", "by=10.0.0.4;for=127.0.0.1;host=\"router:8443\";proto=https"),
            ],
            head.Headers);
    }

    [Fact]
    public void TryParseRequest_NoBodyMarker()
    {
        Assert.True(HeadParser.TryParseRequest("GET /a%20b HTTP/1.1\nAccept:*/*\n\n_2", true, out var head, out _));

        Assert.Equal("GET", head!.Method);
        Assert.Equal("/a%20b", head.Target);
        Assert.Equal("_2", head.Marker);
        Assert.Equal([H("Accept", "*/*")], head.Headers);
    }

    [Fact]
    public void TryParseRequest_WithoutMarker_V3Text()
    {
        Assert.True(HeadParser.TryParseRequest("GET / HTTP/1.1\nhost:example.com\n\n", expectMarker: false, out var head, out var error));

        Assert.Null(error);
        Assert.Equal("GET", head!.Method);
        Assert.Equal("/", head.Target);
        Assert.Null(head.Marker);
        Assert.Equal([H("host", "example.com")], head.Headers);
    }

    [Fact]
    public void TryParseRequest_WithoutMarkerExpected_TrailingUnderscoreLineIsNotAMarker()
    {
        // With expectMarker false a trailing "_2" is no marker, and it is not a header either (no colon).
        Assert.True(HeadParser.TryParseRequest("GET / HTTP/1.1\na:b\n\n_2", expectMarker: false, out var head, out _));

        Assert.Null(head!.Marker);
        Assert.Equal([H("a", "b")], head.Headers);
    }

    [Fact]
    public void TryParseRequest_CrlfLineEndings()
    {
        Assert.True(HeadParser.TryParseRequest("PUT /up HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\n_1", true, out var head, out _));

        Assert.Equal("PUT", head!.Method);
        Assert.Equal("/up", head.Target);
        Assert.Equal("_1", head.Marker);
        Assert.Equal([H("Host", "example.com"), H("Content-Length", "3")], head.Headers);
    }

    [Fact]
    public void TryParseRequest_NameColonSpaceValue_IsTrimmed()
    {
        Assert.True(HeadParser.TryParseRequest("GET / HTTP/1.1\nUser-Agent: curl/8.0\nX-Pad:\t  spaced  \n\n_2", true, out var head, out _));

        Assert.Equal([H("User-Agent", "curl/8.0"), H("X-Pad", "spaced")], head!.Headers);
    }

    [Fact]
    public void TryParseRequest_ValuesSplitAtFirstColonOnly()
    {
        Assert.True(HeadParser.TryParseRequest("GET / HTTP/1.1\nReferer:https://a.example:8443/x?y=1:2\n\n_2", true, out var head, out _));

        Assert.Equal([H("Referer", "https://a.example:8443/x?y=1:2")], head!.Headers);
    }

    [Fact]
    public void TryParseRequest_RepeatedHeaders_KeptAsSeparateEntriesInOrder()
    {
        Assert.True(HeadParser.TryParseRequest("GET / HTTP/1.1\nAccept:a\nX:1\nAccept:b\n\n_2", true, out var head, out _));

        Assert.Equal([H("Accept", "a"), H("X", "1"), H("Accept", "b")], head!.Headers);
    }

    [Fact]
    public void TryParseRequest_AsteriskTarget_IsAccepted()
    {
        Assert.True(HeadParser.TryParseRequest("OPTIONS * HTTP/1.1\n\n_2", true, out var head, out _));

        Assert.Equal("OPTIONS", head!.Method);
        Assert.Equal("*", head.Target);
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\nHost:x\n\n")]
    [InlineData("GET / HTTP/1.1\nHost:x\n\n_3")]
    [InlineData("GET / HTTP/1.1\nHost:x\n\n_")]
    [InlineData("GET / HTTP/1.1\nHost:x\n\n_12")]
    [InlineData("GET / HTTP/1.1\nHost:x")]
    [InlineData("")]
    public void TryParseRequest_MissingMarker_FailsWithError(string text)
    {
        Assert.False(HeadParser.TryParseRequest(text, expectMarker: true, out var head, out var error));

        Assert.Null(head);
        Assert.False(string.IsNullOrWhiteSpace(error));
    }

    [Theory]
    [InlineData("GET\n\n_2")]
    [InlineData("GET /\n\n_2")]
    [InlineData("GET  HTTP/1.1\n\n_2")]
    [InlineData(" / HTTP/1.1\n\n_2")]
    [InlineData("\n\n_2")]
    [InlineData("_2")]
    [InlineData("GET relative/path HTTP/1.1\n\n_2")]
    [InlineData("GET http://example.com/ HTTP/1.1\n\n_2")]
    public void TryParseRequest_MalformedRequestLine_Fails(string text)
    {
        Assert.False(HeadParser.TryParseRequest(text, expectMarker: true, out var head, out var error));

        Assert.Null(head);
        Assert.False(string.IsNullOrWhiteSpace(error));
    }

    [Theory]
    [InlineData("GET\n\n")]
    [InlineData("")]
    [InlineData("GET  HTTP/1.1\n\n")]
    public void TryParseRequest_MalformedRequestLine_WithoutMarker_Fails(string text)
    {
        Assert.False(HeadParser.TryParseRequest(text, expectMarker: false, out var head, out var error));

        Assert.Null(head);
        Assert.NotNull(error);
    }

    [Fact]
    public void TryParseRequest_LinesWithoutColonOrName_AreIgnored()
    {
        Assert.True(HeadParser.TryParseRequest("GET / HTTP/1.1\nnocolon\n:novalue\n : x\nok:1\n\n_2", true, out var head, out _));

        Assert.Equal([H("ok", "1")], head!.Headers);
    }

    [Fact]
    public void TryParseRequest_RoundTripsHeadText()
    {
        var builder = HeadText.ForRequest("PATCH", "/p?q=1");
        builder.Add("a", "1");
        builder.Add("b", "x:y");
        var text = builder.ToRequestString("_1");

        Assert.True(HeadParser.TryParseRequest(text, true, out var head, out _));

        Assert.Equal("PATCH", head!.Method);
        Assert.Equal("/p?q=1", head.Target);
        Assert.Equal("_1", head.Marker);
        Assert.Equal([H("a", "1"), H("b", "x:y")], head.Headers);
    }

    // ---- responses ----

    [Fact]
    public void TryParseResponse_JconnStyle_LfNoTrailingBlankLine_TodoReason()
    {
        var headers = new List<KeyValuePair<string, string>>();

        var ok = HeadParser.TryParseResponse(
            "HTTP/1.1 200 TODO\ncontent-length:5\ncontent-type:text/plain;charset=utf-8\ndate:Tue, 03 Mar 2026 09:00:00 GMT\n",
            out var status,
            headers);

        Assert.True(ok);
        Assert.Equal(200, status);
        Assert.Equal(
            [
                H("content-length", "5"),
                H("content-type", "text/plain;charset=utf-8"),
                H("date", "Tue, 03 Mar 2026 09:00:00 GMT"),
            ],
            headers);
    }

    [Fact]
    public void TryParseResponse_TrailingBlankLine()
    {
        var headers = new List<KeyValuePair<string, string>>();

        Assert.True(HeadParser.TryParseResponse("HTTP/1.1 201 Created\nlocation:/x/1\n\n", out var status, headers));

        Assert.Equal(201, status);
        Assert.Equal([H("location", "/x/1")], headers);
    }

    [Fact]
    public void TryParseResponse_NoFinalLineFeedAtAll()
    {
        var headers = new List<KeyValuePair<string, string>>();

        Assert.True(HeadParser.TryParseResponse("HTTP/1.1 204 No Content\nx-a:1", out var status, headers));

        Assert.Equal(204, status);
        Assert.Equal([H("x-a", "1")], headers);
    }

    [Fact]
    public void TryParseResponse_StatusLineOnly()
    {
        var headers = new List<KeyValuePair<string, string>>();

        Assert.True(HeadParser.TryParseResponse("HTTP/1.1 304 Not Modified", out var status, headers));

        Assert.Equal(304, status);
        Assert.Empty(headers);
    }

    [Fact]
    public void TryParseResponse_GoStyle_CrlfAndColonSpace()
    {
        var headers = new List<KeyValuePair<string, string>>();

        Assert.True(HeadParser.TryParseResponse(
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/html; charset=utf-8\r\nDate: Tue, 03 Mar 2026 09:00:00 GMT\r\n\r\n",
            out var status,
            headers));

        Assert.Equal(404, status);
        Assert.Equal(
            [
                H("Content-Type", "text/html; charset=utf-8"),
                H("Date", "Tue, 03 Mar 2026 09:00:00 GMT"),
            ],
            headers);
    }

    [Theory]
    [InlineData("HTTP/1.1 200 OK\ncontent-length:5\n")]
    [InlineData("HTTP/1.1 200 OK\r\ncontent-length:5\r\n")]
    [InlineData("HTTP/1.1 200 OK\ncontent-length:5\n\n")]
    [InlineData("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\ncontent-length:5")]
    [InlineData("HTTP/1.1 200 TODO\ncontent-length:5\n")]
    [InlineData("HTTP/1.1 200\ncontent-length:5\n")]
    [InlineData("HTTP/1.1 200 Some Long Reason Phrase\ncontent-length:5\n")]
    public void TryParseResponse_AllLineEndingStylesGiveTheSameResult(string text)
    {
        var headers = new List<KeyValuePair<string, string>>();

        Assert.True(HeadParser.TryParseResponse(text, out var status, headers));

        Assert.Equal(200, status);
        Assert.Equal([H("content-length", "5")], headers);
    }

    [Fact]
    public void TryParseResponse_RepeatedSetCookie_KeptAsSeparateEntries()
    {
        var headers = new List<KeyValuePair<string, string>>();

        Assert.True(HeadParser.TryParseResponse(
            "HTTP/1.1 200 OK\nset-cookie:a=1; Path=/\nset-cookie:b=2; Expires=Tue, 03 Mar 2026 09:00:00 GMT\n",
            out _,
            headers));

        Assert.Equal(
            [
                H("set-cookie", "a=1; Path=/"),
                H("set-cookie", "b=2; Expires=Tue, 03 Mar 2026 09:00:00 GMT"),
            ],
            headers);
    }

    [Fact]
    public void TryParseResponse_PseudoHeaderAndColonlessLines_AreIgnored()
    {
        var headers = new List<KeyValuePair<string, string>>();

        Assert.True(HeadParser.TryParseResponse("HTTP/1.1 200 OK\n:status:200\ngarbage\nx:1\n", out _, headers));

        Assert.Equal([H("x", "1")], headers);
    }

    [Fact]
    public void TryParseResponse_AppendsToTheCallersList()
    {
        var headers = new List<KeyValuePair<string, string>> { H("existing", "0") };

        Assert.True(HeadParser.TryParseResponse("HTTP/1.1 200 OK\nx:1\n", out _, headers));

        Assert.Equal([H("existing", "0"), H("x", "1")], headers);
    }

    [Theory]
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
    [InlineData("FOO/1.1 200 OK")]
    [InlineData("200 OK")]
    [InlineData("content-length:5\nHTTP/1.1 200 OK")]
    public void TryParseResponse_InvalidStatusLine_Fails(string text)
    {
        var headers = new List<KeyValuePair<string, string>>();

        Assert.False(HeadParser.TryParseResponse(text + "\nx:1\n", out var status, headers));

        Assert.Equal(0, status);
        Assert.Empty(headers);
    }

    [Theory]
    [InlineData("HTTP/1.1 100 Continue", 100)]
    [InlineData("HTTP/1.1 502 Bad Gateway", 502)]
    [InlineData("HTTP/1.0 999 X", 999)]
    [InlineData("HTTP/2 418 I'm a teapot", 418)]
    public void TryParseResponse_StatusRange(string statusLine, int expected)
    {
        var headers = new List<KeyValuePair<string, string>>();

        Assert.True(HeadParser.TryParseResponse(statusLine + "\n", out var status, headers));

        Assert.Equal(expected, status);
    }

    [Fact]
    public void TryParseResponse_RoundTripsHeadText()
    {
        var builder = HeadText.ForResponse(206, "Partial Content");
        builder.Add("content-range", "bytes 0-4/10");
        builder.Add("x-colon", "a:b:c");
        var text = builder.ToResponseString();
        var headers = new List<KeyValuePair<string, string>>();

        Assert.True(HeadParser.TryParseResponse(text, out var status, headers));

        Assert.Equal(206, status);
        Assert.Equal([H("content-range", "bytes 0-4/10"), H("x-colon", "a:b:c")], headers);
    }
}
