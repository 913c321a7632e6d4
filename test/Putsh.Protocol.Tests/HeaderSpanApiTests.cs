using System.Net;
using Putsh.Protocol.Headers;

namespace Putsh.Protocol.Tests;

/// <summary>The allocation-free additions to the header-rewriting helpers: same output as the string forms.</summary>
public class HeaderSpanApiTests
{
    // ---- HopByHopHeaders.IsNominated ----

    [Theory]
    [InlineData("close", "close", true)]
    [InlineData("keep-alive, X-Secret", "x-secret", true)]
    [InlineData(" X-Secret ,other", "X-SECRET", true)]
    [InlineData("a,,b", "b", true)]
    [InlineData("x-secretive", "x-secret", false)]
    [InlineData("x-secret", "x-secretive", false)]
    [InlineData("", "x", false)]
    [InlineData(",,", "x", false)]
    [InlineData("a, ,b", "", false)]
    [InlineData("a b", "a", false)]
    public void IsNominated_AgreesWithParsedTokens(string connection, string name, bool expected)
    {
        Assert.Equal(expected, HopByHopHeaders.IsNominated(connection, name));
        Assert.Equal(expected, HopByHopHeaders.ParseConnectionTokens([connection]) is { } tokens
            && tokens.Contains(name, StringComparer.OrdinalIgnoreCase));
    }

    // ---- HeadText ----

    [Fact]
    public void Add_Span_IsAddOfTheString()
    {
        var head = HeadText.ForRequest("GET", "/");
        Span<char> buffer = stackalloc char[32];
        "HTTP/1.1 putsh".AsSpan().CopyTo(buffer);

        Assert.True(head.Add("via", buffer[..14]));
        Assert.False(head.Add("bad", "a\nb".AsSpan()));
        Assert.True(head.Add("empty", ReadOnlySpan<char>.Empty));

        Assert.Equal("GET / HTTP/1.1\nvia:HTTP/1.1 putsh\nempty:\n\n", head.ToRequestString(null));
    }

    [Theory]
    [InlineData("Content-Type", "content-type")]
    [InlineData("x-already-lower", "x-already-lower")]
    [InlineData("ETag", "etag")]
    public void AddLowercaseName_IsAddOfToLowerInvariant(string name, string lower)
    {
        var expected = HeadText.ForResponse(200, "OK");
        expected.Add(name.ToLowerInvariant(), "v");
        var actual = HeadText.ForResponse(200, "OK");

        Assert.True(actual.AddLowercaseName(name, "v"));

        var text = actual.ToResponseString();
        Assert.Equal(expected.ToResponseString(), text);
        Assert.Equal("HTTP/1.1 200 OK\n" + lower + ":v\n", text);
    }

    [Fact]
    public void AddLowercaseName_LongNames_TakeTheStringPath_WithTheSameResult()
    {
        var name = "X-" + new string('A', 200);
        var head = HeadText.ForResponse(200, "OK");

        Assert.True(head.AddLowercaseName(name, "v"));

        Assert.Equal("HTTP/1.1 200 OK\n" + name.ToLowerInvariant() + ":v\n", head.ToResponseString());
    }

    [Theory]
    [InlineData("", "v")]
    [InlineData("Bad Name", "v")]
    [InlineData("Na:me", "v")]
    [InlineData("Name", "a\rb")]
    [InlineData("N\u00e4me", "v")]
    public void AddLowercaseName_RefusesWhatAddRefuses(string name, string value)
    {
        var head = HeadText.ForResponse(200, "OK");

        Assert.False(head.AddLowercaseName(name, value));
        Assert.False(head.Add(name.ToLowerInvariant(), value));
        Assert.Equal("HTTP/1.1 200 OK\n", head.ToResponseString());
    }

    // ---- ForwardedElement.TryFormat ----

    public static TheoryData<string?, string?, string?, string?> Elements() => new()
    {
        { "10.0.0.4", "127.0.0.1", "router:8443", "https" },
        { null, null, null, null },
        { "", null, null, "http" },
        { "[::1]", "_hidden", "example.com", null },
        { null, "unknown", "a\"b\\c", "https" },
        { null, null, new string('h', 600), "http" },
        { null, "é", null, null },
    };

    [Theory]
    [MemberData(nameof(Elements))]
    public void TryFormat_IsToString(string? by, string? @for, string? host, string? proto)
    {
        var element = new ForwardedElement(by, @for, host, proto);
        var buffer = new char[2048];

        Assert.True(element.TryFormat(buffer, out var n));

        Assert.Equal(element.ToString(), new string(buffer, 0, n));
    }

    [Fact]
    public void TryFormat_TooSmall_IsFalse()
    {
        var element = new ForwardedElement("10.0.0.4", "127.0.0.1", "router:8443", "https");
        var exact = element.ToString().Length;

        Assert.False(element.TryFormat(new char[exact - 1], out var n));
        Assert.Equal(0, n);
        Assert.True(element.TryFormat(new char[exact], out n));
        Assert.Equal(exact, n);
    }

    [Theory]
    [InlineData("127.0.0.1", "127.0.0.1")]
    [InlineData("::ffff:10.1.2.3", "10.1.2.3")]
    [InlineData("::1", "[::1]")]
    [InlineData("2001:db8::8a2e:370:7334", "[2001:db8::8a2e:370:7334]")]
    [InlineData("fe80::1%3", "[fe80::1%3]")]
    public void TryFormatNode_IsTheRfc7239Node(string address, string expected)
    {
        var buffer = new char[ForwardedElement.MaxNodeLength];

        Assert.True(ForwardedElement.TryFormatNode(IPAddress.Parse(address), buffer, out var n));

        Assert.Equal(expected, new string(buffer, 0, n));
        Assert.False(ForwardedElement.TryFormatNode(IPAddress.Parse(address), new char[expected.Length - 1], out _));
    }

    [Theory]
    [InlineData("10.0.0.4", "127.0.0.1", "router:8443", "https", "by=10.0.0.4;for=127.0.0.1;host=\"router:8443\";proto=https")]
    [InlineData("::1", "::ffff:192.0.2.1", "example.com", "http", "by=\"[::1]\";for=192.0.2.1;host=example.com;proto=http")]
    [InlineData(null, null, null, "http", "proto=http")]
    public void TryFormat_FromAddresses_IsTheElementOfTheFormattedNodes(string? by, string? @for, string? host, string? proto, string expected)
    {
        var buffer = new char[256];

        Assert.True(ForwardedElement.TryFormat(buffer, out var n, by is null ? null : IPAddress.Parse(by), @for is null ? null : IPAddress.Parse(@for), host, proto));

        Assert.Equal(expected, new string(buffer, 0, n));
        Assert.False(ForwardedElement.TryFormat(new char[expected.Length - 1], out _, by is null ? null : IPAddress.Parse(by), @for is null ? null : IPAddress.Parse(@for), host, proto));
    }

    // ---- ForwardedElement.TryFormatLegacy ----

    [Theory]
    [InlineData(null, null, null, null)]
    [InlineData("", " ", "\t", null)]
    [InlineData("203.0.113.7", null, null, null)]
    [InlineData(" 203.0.113.7 ", "shop.example.com", null, "https")]
    [InlineData(null, "example.com", "8080", "http")]
    [InlineData(null, "example.com", "80", "http")]
    [InlineData(null, "example.com", "80", null)]
    [InlineData(null, "example.com", "80", "https")]
    [InlineData(null, "example.com", "443", "HTTPS")]
    [InlineData(null, "example.com", "443", null)]
    [InlineData(null, "example.com:1", "2", null)]
    [InlineData(null, "[::1]", "8443", "https")]
    [InlineData(null, "[::1]:8443", "9", "https")]
    [InlineData(null, "a\"b\\c", "81", null)]
    [InlineData(null, null, "8080", "http")]
    [InlineData("[2001:db8::1]", null, null, "https")]
    [InlineData("unknown", "h", " 8080 ", " http ")]
    public void TryFormatLegacy_OneElement_IsFromLegacyThenToString(string? xfFor, string? xfHost, string? xfPort, string? xfProto)
    {
        var elements = ForwardedElement.FromLegacy(xfFor, xfHost, xfPort, xfProto);
        var buffer = new char[256];

        Assert.True(ForwardedElement.TryFormatLegacy(buffer, xfFor, xfHost, xfPort, xfProto, out var n, out var hasElement));

        Assert.Equal(elements.Count == 1, hasElement);
        Assert.Equal(hasElement ? elements[0].ToString() : "", new string(buffer, 0, n));
    }

    [Theory]
    [InlineData("1.1.1.1, 2.2.2.2", null, null, null)]
    [InlineData("1.1.1.1", "a,b", null, null)]
    [InlineData(null, null, ",", null)]
    [InlineData(null, null, null, "http,https")]
    public void TryFormatLegacy_SeveralElements_IsLeftToFromLegacy(string? xfFor, string? xfHost, string? xfPort, string? xfProto)
    {
        Assert.False(ForwardedElement.TryFormatLegacy(new char[256], xfFor, xfHost, xfPort, xfProto, out var n, out var hasElement));
        Assert.Equal(0, n);
        Assert.False(hasElement);
    }

    [Fact]
    public void TryFormatLegacy_TooSmall_IsFalse()
    {
        Assert.False(ForwardedElement.TryFormatLegacy(new char[10], "203.0.113.7", "shop.example.com", null, "https", out var n, out _));
        Assert.Equal(0, n);
    }
}
