using Putsh.Protocol.Headers;

namespace Putsh.Protocol.Tests;

public class ForwardedElementTests
{
    // ---- ToString ----

    [Fact]
    public void ToString_WorkedExampleFromSpec()
    {
        var element = new ForwardedElement("10.0.0.4", "127.0.0.1", "router:8443", "https");

        Assert.Equal("by=10.0.0.4;for=127.0.0.1;host=\"router:8443\";proto=https", element.ToString());
    }

    [Fact]
    public void ToString_ParameterOrderIsAlwaysByForHostProto()
    {
        // Named arguments in a different order than the serialisation order.
        var element = new ForwardedElement(Proto: "http", Host: "example.com", For: "1.2.3.4", By: "5.6.7.8");

        Assert.Equal("by=5.6.7.8;for=1.2.3.4;host=example.com;proto=http", element.ToString());
    }

    [Theory]
    [InlineData(null, null, null, null, "")]
    [InlineData("b", null, null, null, "by=b")]
    [InlineData(null, "f", null, null, "for=f")]
    [InlineData(null, null, "h", null, "host=h")]
    [InlineData(null, null, null, "https", "proto=https")]
    [InlineData(null, "1.1.1.1", null, "http", "for=1.1.1.1;proto=http")]
    [InlineData("unknown", null, "example.com", null, "by=unknown;host=example.com")]
    public void ToString_OmitsNullParametersWithoutStraySeparators(string? by, string? @for, string? host, string? proto, string expected)
    {
        Assert.Equal(expected, new ForwardedElement(by, @for, host, proto).ToString());
    }

    [Theory]
    [InlineData("127.0.0.1", "for=127.0.0.1")]
    [InlineData("unknown", "for=unknown")]
    [InlineData("_hidden", "for=_hidden")]
    [InlineData("a!#$%&'*+-.^_`|~Z9", "for=a!#$%&'*+-.^_`|~Z9")]
    public void ToString_TokenValuesAreBare(string value, string expected)
    {
        Assert.Equal(expected, new ForwardedElement(null, value, null, null).ToString());
    }

    [Theory]
    [InlineData("0:0:0:0:0:0:0:1", "for=\"0:0:0:0:0:0:0:1\"")]
    [InlineData("localhost:8443", "for=\"localhost:8443\"")]
    [InlineData("[2001:db8::17]:4711", "for=\"[2001:db8::17]:4711\"")]
    [InlineData("a b", "for=\"a b\"")]
    [InlineData("a;b", "for=\"a;b\"")]
    [InlineData("a,b", "for=\"a,b\"")]
    [InlineData("a=b", "for=\"a=b\"")]
    [InlineData("a/b", "for=\"a/b\"")]
    [InlineData("", "for=\"\"")]
    public void ToString_NonTokenValuesAreQuoted(string value, string expected)
    {
        Assert.Equal(expected, new ForwardedElement(null, value, null, null).ToString());
    }

    [Fact]
    public void ToString_QuotesAndBackslashesAreEscapedInsideQuotes()
    {
        var element = new ForwardedElement(null, null, "a\"b\\c", null);

        Assert.Equal("host=\"a\\\"b\\\\c\"", element.ToString());
    }

    [Theory]
    [InlineData("abc", true)]
    [InlineData("ABC-123_x.y~z", true)]
    [InlineData("", true)]
    [InlineData("a:b", false)]
    [InlineData("a b", false)]
    [InlineData("a\"b", false)]
    [InlineData("a\\b", false)]
    [InlineData("a@b", false)]
    [InlineData("é", false)]
    public void IsToken_FollowsRfc7230Tchar(string value, bool expected)
    {
        Assert.Equal(expected, ForwardedElement.IsToken(value));
    }

    // ---- Parse ----

    [Fact]
    public void Parse_SingleElement()
    {
        var result = ForwardedElement.Parse(["by=10.0.0.4;for=127.0.0.1;host=\"router:8443\";proto=https"]);

        var element = Assert.Single(result);
        Assert.Equal(new ForwardedElement("10.0.0.4", "127.0.0.1", "router:8443", "https"), element);
    }

    [Fact]
    public void Parse_MultipleElementsInOneValue_KeepOrder()
    {
        var result = ForwardedElement.Parse(["for=192.0.2.60;proto=http;by=203.0.113.43, for=198.51.100.17"]);

        Assert.Equal(
            [
                new ForwardedElement("203.0.113.43", "192.0.2.60", null, "http"),
                new ForwardedElement(null, "198.51.100.17", null, null),
            ],
            result);
    }

    [Fact]
    public void Parse_MultipleHeaderValues_AreConcatenatedInOrder()
    {
        var result = ForwardedElement.Parse(["for=1.1.1.1", null, "", "for=2.2.2.2;proto=https, for=3.3.3.3"]);

        Assert.Equal(
            [
                new ForwardedElement(null, "1.1.1.1", null, null),
                new ForwardedElement(null, "2.2.2.2", null, "https"),
                new ForwardedElement(null, "3.3.3.3", null, null),
            ],
            result);
    }

    [Fact]
    public void Parse_QuotedValues_AreUnquoted()
    {
        var result = ForwardedElement.Parse(["for=\"[2001:db8:cafe::17]:4711\";host=\"example.com:8080\""]);

        var element = Assert.Single(result);
        Assert.Equal("[2001:db8:cafe::17]:4711", element.For);
        Assert.Equal("example.com:8080", element.Host);
    }

    [Fact]
    public void Parse_QuotedValuesMayContainSeparators()
    {
        var result = ForwardedElement.Parse(["host=\"a,b;c=d\";proto=https, for=x"]);

        Assert.Equal(
            [
                new ForwardedElement(null, null, "a,b;c=d", "https"),
                new ForwardedElement(null, "x", null, null),
            ],
            result);
    }

    [Fact]
    public void Parse_EscapedQuotesAndBackslashes_AreUnescaped()
    {
        var result = ForwardedElement.Parse(["host=\"a\\\"b\\\\c\";proto=http"]);

        var element = Assert.Single(result);
        Assert.Equal("a\"b\\c", element.Host);
        Assert.Equal("http", element.Proto);
    }

    [Fact]
    public void Parse_ParameterNamesAreCaseInsensitive_AndWhitespaceIsTolerated()
    {
        var result = ForwardedElement.Parse(["For=1.1.1.1 ; PROTO=https ;  Host = example.com ,  BY=unknown"]);

        Assert.Equal(
            [
                new ForwardedElement(null, "1.1.1.1", "example.com", "https"),
                new ForwardedElement("unknown", null, null, null),
            ],
            result);
    }

    [Fact]
    public void Parse_UnknownParametersAreDropped_ButTheElementIsKept()
    {
        var result = ForwardedElement.Parse(["secret=abc;for=1.1.1.1, ext=1"]);

        Assert.NotEmpty(result);
        Assert.Equal(new ForwardedElement(null, "1.1.1.1", null, null), result[0]);
        Assert.All(result, e => Assert.DoesNotContain("secret", e.ToString(), StringComparison.Ordinal));
        Assert.All(result, e => Assert.DoesNotContain("ext", e.ToString(), StringComparison.Ordinal));
    }

    [Fact]
    public void Parse_EmptyElementsAndPairsWithoutValues_AreSkipped()
    {
        var result = ForwardedElement.Parse([",, for=1.1.1.1;;garbage;, ,"]);

        var element = Assert.Single(result);
        Assert.Equal("1.1.1.1", element.For);
    }

    [Fact]
    public void Parse_NoValues_IsEmpty()
    {
        Assert.Empty(ForwardedElement.Parse([]));
        Assert.Empty(ForwardedElement.Parse([null, ""]));
    }

    [Fact]
    public void Parse_RoundTripsToString()
    {
        var original = new ForwardedElement("unknown", "0:0:0:0:0:0:0:1", "we\"ird\\host:1", "https");

        var parsed = ForwardedElement.Parse([original.ToString()]);

        Assert.Equal(original, Assert.Single(parsed));
    }

    // ---- FromLegacy ----

    [Fact]
    public void FromLegacy_NothingGiven_IsEmpty()
    {
        Assert.Empty(ForwardedElement.FromLegacy(null, null, null, null));
        Assert.Empty(ForwardedElement.FromLegacy("", " ", null, null));
    }

    [Fact]
    public void FromLegacy_SingleForOnly()
    {
        var result = ForwardedElement.FromLegacy("123.0.0.0", null, null, null);

        Assert.Equal(new ForwardedElement(null, "123.0.0.0", null, null), Assert.Single(result));
    }

    [Fact]
    public void FromLegacy_ZipsListsByIndex()
    {
        var result = ForwardedElement.FromLegacy("1.1.1.1, 2.2.2.2", "a.example, b.example", null, "https,http");

        Assert.Equal(
            [
                new ForwardedElement(null, "1.1.1.1", "a.example", "https"),
                new ForwardedElement(null, "2.2.2.2", "b.example", "http"),
            ],
            result);
    }

    [Fact]
    public void FromLegacy_OnlyListsOfTheMaximumLengthTakePart()
    {
        // for has 3 entries; host (1) and proto (2) are shorter and are therefore ignored entirely.
        var result = ForwardedElement.FromLegacy("1.1.1.1, 2.2.2.2, 3.3.3.3", "only.example", null, "https, http");

        Assert.Equal(
            [
                new ForwardedElement(null, "1.1.1.1", null, null),
                new ForwardedElement(null, "2.2.2.2", null, null),
                new ForwardedElement(null, "3.3.3.3", null, null),
            ],
            result);
    }

    [Fact]
    public void FromLegacy_ShorterForListIsIgnoredWhenHostListIsLonger()
    {
        var result = ForwardedElement.FromLegacy("1.1.1.1", "a.example, b.example", null, "https, https");

        Assert.Equal(
            [
                new ForwardedElement(null, null, "a.example", "https"),
                new ForwardedElement(null, null, "b.example", "https"),
            ],
            result);
    }

    [Fact]
    public void FromLegacy_NonDefaultPort_IsFoldedIntoHost()
    {
        var result = ForwardedElement.FromLegacy(null, "example.com", "8443", "https");

        Assert.Equal(new ForwardedElement(null, null, "example.com:8443", "https"), Assert.Single(result));
    }

    [Fact]
    public void FromLegacy_NonDefaultPortWithoutProto_IsFoldedIntoHost()
    {
        var result = ForwardedElement.FromLegacy(null, "example.com", "8080", null);

        Assert.Equal("example.com:8080", Assert.Single(result).Host);
    }

    [Theory]
    [InlineData("443", "https")]
    [InlineData("80", "http")]
    public void FromLegacy_DefaultPort_IsNotFolded(string port, string? proto)
    {
        var result = ForwardedElement.FromLegacy(null, "example.com", port, proto);

        var element = Assert.Single(result);
        Assert.Equal("example.com", element.Host);
        Assert.Equal(proto, element.Proto);
    }

    [Theory]
    [InlineData("80", "https", "example.com:80")]
    [InlineData("443", "http", "example.com:443")]
    public void FromLegacy_PortThatIsDefaultOnlyForTheOtherScheme_IsFolded(string port, string proto, string expectedHost)
    {
        var result = ForwardedElement.FromLegacy(null, "example.com", port, proto);

        Assert.Equal(expectedHost, Assert.Single(result).Host);
    }

    [Fact]
    public void FromLegacy_HostAlreadyCarryingAPort_NeverGetsASecondPort()
    {
        var result = ForwardedElement.FromLegacy(null, "example.com:9000", "8443", "https");

        Assert.Matches("^example\\.com:[0-9]+$", Assert.Single(result).Host);
    }

    [Fact]
    public void FromLegacy_DefaultPort_SchemeIsCaseInsensitive()
    {
        // URI schemes are case-insensitive (RFC 3986 §3.1); mu compares with equalsIgnoreCase.
        Assert.Equal("example.com", Assert.Single(ForwardedElement.FromLegacy(null, "example.com", "443", "HTTPS")).Host);
        Assert.Equal("example.com", Assert.Single(ForwardedElement.FromLegacy(null, "example.com", "443", "Https")).Host);
        Assert.Equal("example.com", Assert.Single(ForwardedElement.FromLegacy(null, "example.com", "80", "HTTP")).Host);
    }

    [Fact]
    public void FromLegacy_BracketedIpv6HostWithoutPort_GetsThePortFolded()
    {
        // "[2001:db8::1]" has colons but no port; the X-Forwarded-Port must not be lost.
        var result = ForwardedElement.FromLegacy(null, "[2001:db8::1]", "8443", "https");

        Assert.Equal("[2001:db8::1]:8443", Assert.Single(result).Host);
    }

    [Fact]
    public void FromLegacy_PortsAreFoldedPerIndex()
    {
        var result = ForwardedElement.FromLegacy("1.1.1.1, 2.2.2.2", "a.example, b.example", "443, 8443", "https, https");

        Assert.Equal(
            [
                new ForwardedElement(null, "1.1.1.1", "a.example", "https"),
                new ForwardedElement(null, "2.2.2.2", "b.example:8443", "https"),
            ],
            result);
    }

    [Fact]
    public void FromLegacy_PortListShorterThanMaximum_IsNotFolded()
    {
        var result = ForwardedElement.FromLegacy("1.1.1.1, 2.2.2.2", "a.example, b.example", "8443", null);

        Assert.All(result, e => Assert.DoesNotContain(':', e.Host!));
    }

    [Fact]
    public void FromLegacy_SerialisesAsSpecExample()
    {
        // §2.3 example: a client sent only x-forwarded-for: 123.0.0.0
        var result = ForwardedElement.FromLegacy("123.0.0.0", null, null, null);

        Assert.Equal("for=123.0.0.0", Assert.Single(result).ToString());
    }
}
