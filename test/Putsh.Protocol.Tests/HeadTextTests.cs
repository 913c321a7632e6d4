using Putsh.Protocol.Headers;
using Putsh.Protocol.V1;

namespace Putsh.Protocol.Tests;

public class HeadTextTests
{
    private const string WorkedExampleRequest =
        "POST /my-app/upload?x=1 HTTP/1.1\nHost:router:8443\nContent-Length:5\nContent-Type:text/plain\nvia:HTTP/1.1 muc\n"
        + "forwarded:by=10.0.0.4;for=127.0.0.1;host=\"router:8443\";proto=https\n\n_1";

    [Fact]
    public void RequestHead_WorkedV1ExampleFromSpec_IsByteExact()
    {
        var head = HeadText.ForRequest("POST", "/my-app/upload?x=1");
        Assert.True(head.Add("Host", "router:8443"));
        Assert.True(head.Add("Content-Length", "5"));
        Assert.True(head.Add("Content-Type", "text/plain"));
        Assert.True(head.Add("via", "HTTP/1.1 muc"));
        Assert.True(head.Add("forwarded", new ForwardedElement("10.0.0.4", "127.0.0.1", "router:8443", "https").ToString()));

        var text = head.ToRequestString(V1Markers.RequestHasBody);

        Assert.Equal(WorkedExampleRequest, text);
        Assert.EndsWith("\n\n_1", text, StringComparison.Ordinal);
        Assert.DoesNotContain('\r', text);
    }

    [Fact]
    public void RequestHead_NoBodyMarker_EndsWithBlankLineThenMarker()
    {
        var head = HeadText.ForRequest("GET", "/a/b%20c?q=%2F");
        head.Add("Accept", "*/*");

        Assert.Equal("GET /a/b%20c?q=%2F HTTP/1.1\nAccept:*/*\n\n_2", head.ToRequestString(V1Markers.RequestHasNoBody));
    }

    [Fact]
    public void RequestHead_WithoutMarker_EndsWithTwoLineFeeds()
    {
        // cranker_3.0 sends the head text with no marker (§2.1).
        var head = HeadText.ForRequest("GET", "/");
        head.Add("host", "example.com");

        Assert.Equal("GET / HTTP/1.1\nhost:example.com\n\n", head.ToRequestString(null));
    }

    [Fact]
    public void RequestHead_NoHeaders()
    {
        Assert.Equal("DELETE /x HTTP/1.1\n\n_2", HeadText.ForRequest("DELETE", "/x").ToRequestString("_2"));
    }

    [Fact]
    public void RequestHead_RepeatedHeaders_AreOneLineEach()
    {
        var head = HeadText.ForRequest("GET", "/");
        head.Add("Accept", "text/html");
        head.Add("Accept", "application/json");

        Assert.Equal("GET / HTTP/1.1\nAccept:text/html\nAccept:application/json\n\n", head.ToRequestString(null));
    }

    [Fact]
    public void ResponseHead_HasNoTrailingBlankLine()
    {
        var head = HeadText.ForResponse(200, "OK");
        Assert.True(head.Add("content-length", "5"));

        Assert.Equal("HTTP/1.1 200 OK\ncontent-length:5\n", head.ToResponseString());
    }

    [Fact]
    public void ResponseHead_WorkedV1ExampleFromSpec()
    {
        var head = HeadText.ForResponse(200, "TODO");
        head.Add("content-length", "5");
        head.Add("content-type", "text/plain;charset=utf-8");
        head.Add("date", "Tue, 03 Mar 2026 09:00:00 GMT");

        Assert.Equal(
            "HTTP/1.1 200 TODO\ncontent-length:5\ncontent-type:text/plain;charset=utf-8\ndate:Tue, 03 Mar 2026 09:00:00 GMT\n",
            head.ToResponseString());
    }

    [Fact]
    public void ResponseHead_RepeatedSetCookie_StaysOnSeparateLines()
    {
        var head = HeadText.ForResponse(302, "Found");
        head.Add("set-cookie", "a=1; Path=/");
        head.Add("set-cookie", "b=2; HttpOnly");

        Assert.Equal("HTTP/1.1 302 Found\nset-cookie:a=1; Path=/\nset-cookie:b=2; HttpOnly\n", head.ToResponseString());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("Bad\r\nInjected: yes")]
    [InlineData("Bad\nreason")]
    public void ResponseHead_MissingOrUnsafeReason_IsReplacedByPlaceholder(string? reason)
    {
        var text = HeadText.ForResponse(404, reason).ToResponseString();

        Assert.Equal("HTTP/1.1 404 -\n", text);
    }

    [Fact]
    public void Add_NullValue_IsEmptyValue()
    {
        var head = HeadText.ForResponse(204, "No Content");

        Assert.True(head.Add("x-empty", null));
        Assert.Equal("HTTP/1.1 204 No Content\nx-empty:\n", head.ToResponseString());
    }

    [Theory]
    [InlineData("evil\r")]
    [InlineData("evil\n")]
    [InlineData("a\r\nx-injected:1")]
    [InlineData("a\nx-injected:1")]
    [InlineData("\r")]
    public void Add_ValueWithCrOrLf_IsRefusedAndNothingAppended(string value)
    {
        var head = HeadText.ForRequest("GET", "/");
        head.Add("before", "1");
        var lengthBefore = head.Length;

        Assert.False(head.Add("x-test", value));
        Assert.Equal(lengthBefore, head.Length);

        head.Add("after", "2");
        Assert.Equal("GET / HTTP/1.1\nbefore:1\nafter:2\n\n", head.ToRequestString(null));
    }

    [Theory]
    [InlineData("")]
    [InlineData("x:y")]
    [InlineData(":authority")]
    [InlineData("x y")]
    [InlineData(" x")]
    [InlineData("x ")]
    [InlineData("x\ty")]
    [InlineData("x\r")]
    [InlineData("x\ny")]
    [InlineData("naïve")]
    [InlineData("x\u007Fy")]
    public void Add_UnsafeName_IsRefusedAndNothingAppended(string name)
    {
        var head = HeadText.ForResponse(200, "OK");
        head.Add("before", "1");
        var lengthBefore = head.Length;

        Assert.False(head.Add(name, "value"));
        Assert.Equal(lengthBefore, head.Length);

        Assert.Equal("HTTP/1.1 200 OK\nbefore:1\n", head.ToResponseString());
    }

    [Fact]
    public void Add_ValuesMayContainColonsSpacesAndQuotes()
    {
        var head = HeadText.ForResponse(200, "OK");

        Assert.True(head.Add("x-v", " a: \"b\" ; c "));
        Assert.Equal("HTTP/1.1 200 OK\nx-v: a: \"b\" ; c \n", head.ToResponseString());
    }

    [Fact]
    public void Length_TracksTheTextSoFar()
    {
        var head = HeadText.ForRequest("GET", "/");
        Assert.Equal("GET / HTTP/1.1\n".Length, head.Length);

        head.Add("a", "b");
        Assert.Equal("GET / HTTP/1.1\na:b\n".Length, head.Length);
    }

    [Fact]
    public void InterleavedHeadsOnOneThread_DoNotShareState()
    {
        // HeadText reuses a per-thread buffer; heads built at the same time must still be independent.
        var first = HeadText.ForRequest("GET", "/first");
        var second = HeadText.ForRequest("GET", "/second");
        first.Add("n", "1");
        second.Add("n", "2");

        var firstText = first.ToRequestString("_2");

        var third = HeadText.ForResponse(200, "OK");
        var fourth = HeadText.ForResponse(201, "Created");
        third.Add("n", "3");
        fourth.Add("n", "4");
        second.Add("m", "2");

        Assert.Equal("GET /first HTTP/1.1\nn:1\n\n_2", firstText);
        Assert.Equal("GET /second HTTP/1.1\nn:2\nm:2\n\n_2", second.ToRequestString("_2"));
        Assert.Equal("HTTP/1.1 200 OK\nn:3\n", third.ToResponseString());
        Assert.Equal("HTTP/1.1 201 Created\nn:4\n", fourth.ToResponseString());
    }

    [Fact]
    public void SequentialHeads_StartFromAnEmptyBuffer()
    {
        var a = HeadText.ForResponse(200, "OK");
        a.Add("a", "1");
        Assert.Equal("HTTP/1.1 200 OK\na:1\n", a.ToResponseString());

        var b = HeadText.ForResponse(500, "Oops");
        Assert.Equal("HTTP/1.1 500 Oops\n", b.ToResponseString());
    }
}
