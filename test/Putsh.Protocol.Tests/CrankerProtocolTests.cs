namespace Putsh.Protocol.Tests;

public class CrankerProtocolTests
{
    private static readonly string[] s_both = [CrankerProtocol.V1, CrankerProtocol.V3];
    private static readonly string[] s_v1Only = [CrankerProtocol.V1];
    private static readonly string[] s_v3Only = [CrankerProtocol.V3];

    // §1.3 table, row 1: jconn default offer against a router with both versions.
    [Fact]
    public void Negotiate_JconnDefaultOffer_BothSupported_ChoosesV3WithSubprotocolAndNoLegacyHeader()
    {
        var result = CrankerProtocol.Negotiate(["cranker_3.0", "cranker_1.0"], "1.0", s_both);

        Assert.True(result.Accepted);
        Assert.Equal(CrankerProtocol.V3, result.Version);
        Assert.Equal("cranker_3.0", result.SubProtocol);
        Assert.False(result.SendLegacyHeader);
        Assert.Null(result.Error);
    }

    // §1.3 table, row 2: same offer, router supports 1.0 only.
    [Fact]
    public void Negotiate_JconnDefaultOffer_V1Only_ChoosesV1WithSubprotocolAndLegacyHeader()
    {
        var result = CrankerProtocol.Negotiate(["cranker_3.0", "cranker_1.0"], "1.0", s_v1Only);

        Assert.True(result.Accepted);
        Assert.Equal(CrankerProtocol.V1, result.Version);
        Assert.Equal("cranker_1.0", result.SubProtocol);
        Assert.True(result.SendLegacyHeader);
        Assert.Null(result.Error);
    }

    // §1.3 table, row 3: jconn with preferred=[3.0] against a 1.0-only router: v1 through the legacy header.
    [Fact]
    public void Negotiate_OnlyV3Subprotocol_PlusLegacy_V1Only_ChoosesV1ViaLegacyWithoutSubprotocol()
    {
        var result = CrankerProtocol.Negotiate(["cranker_3.0"], "1.0", s_v1Only);

        Assert.True(result.Accepted);
        Assert.Equal(CrankerProtocol.V1, result.Version);
        Assert.Null(result.SubProtocol);
        Assert.True(result.SendLegacyHeader);
        Assert.Null(result.Error);
    }

    // §1.3 table, row 4: legacy connectors (Go, Rust, npm, ...) send only CrankerProtocol: 1.0.
    [Fact]
    public void Negotiate_LegacyHeaderOnly_BothSupported_ChoosesV1WithoutSubprotocol()
    {
        var result = CrankerProtocol.Negotiate([], "1.0", s_both);

        Assert.True(result.Accepted);
        Assert.Equal(CrankerProtocol.V1, result.Version);
        Assert.Null(result.SubProtocol);
        Assert.True(result.SendLegacyHeader);
        Assert.Null(result.Error);
    }

    [Fact]
    public void Negotiate_LegacyHeaderOnly_V1Only_ChoosesV1WithoutSubprotocol()
    {
        var result = CrankerProtocol.Negotiate([], "1.0", s_v1Only);

        Assert.Equal(CrankerProtocol.V1, result.Version);
        Assert.Null(result.SubProtocol);
        Assert.True(result.SendLegacyHeader);
    }

    // §1.3 table, row 5: the client's order wins, not the server's preference.
    [Fact]
    public void Negotiate_ClientPrefersV1_BothSupported_ChoosesV1()
    {
        var result = CrankerProtocol.Negotiate(["cranker_1.0", "cranker_3.0"], null, s_both);

        Assert.True(result.Accepted);
        Assert.Equal(CrankerProtocol.V1, result.Version);
        Assert.Equal("cranker_1.0", result.SubProtocol);
        Assert.True(result.SendLegacyHeader);
    }

    [Fact]
    public void Negotiate_ClientOrderWins_EvenWhenSupportedListIsOrderedDifferently()
    {
        string[] supportedV3First = [CrankerProtocol.V3, CrankerProtocol.V1];

        Assert.Equal(CrankerProtocol.V1, CrankerProtocol.Negotiate(["cranker_1.0", "cranker_3.0"], null, supportedV3First).Version);
        Assert.Equal(CrankerProtocol.V3, CrankerProtocol.Negotiate(["cranker_3.0", "cranker_1.0"], null, supportedV3First).Version);
    }

    [Fact]
    public void Negotiate_SkipsUnsupportedTokensInClientOrder()
    {
        var result = CrankerProtocol.Negotiate(["cranker_9.9", "cranker_1.0", "cranker_3.0"], null, s_both);

        Assert.Equal(CrankerProtocol.V1, result.Version);
        Assert.Equal("cranker_1.0", result.SubProtocol);
    }

    [Fact]
    public void Negotiate_V3Subprotocol_V3Only_ChoosesV3WithoutLegacyHeader()
    {
        var result = CrankerProtocol.Negotiate(["cranker_3.0"], null, s_v3Only);

        Assert.Equal(CrankerProtocol.V3, result.Version);
        Assert.Equal("cranker_3.0", result.SubProtocol);
        Assert.False(result.SendLegacyHeader);
    }

    [Fact]
    public void Negotiate_TokensAreTrimmedAndCaseInsensitive()
    {
        var result = CrankerProtocol.Negotiate([" CRANKER_3.0 "], null, s_both);

        Assert.Equal(CrankerProtocol.V3, result.Version);
    }

    [Fact]
    public void Negotiate_BareVersionToken_IsAcceptedButNotEchoedAsSubprotocol()
    {
        // mu only echoes "cranker_<v>" when the offered header contains that full name.
        var result = CrankerProtocol.Negotiate(["3.0"], null, s_both);

        Assert.Equal(CrankerProtocol.V3, result.Version);
        Assert.Null(result.SubProtocol);
    }

    [Fact]
    public void Negotiate_NeitherSubprotocolNorLegacy_IsMissingWithError()
    {
        var result = CrankerProtocol.Negotiate([], null, s_both);

        Assert.False(result.Accepted);
        Assert.Null(result.Version);
        Assert.Null(result.SubProtocol);
        Assert.False(result.SendLegacyHeader);
        Assert.False(string.IsNullOrWhiteSpace(result.Error));
        Assert.Equal(NegotiationResult.Missing, result);
    }

    [Fact]
    public void Negotiate_UnsupportedSubprotocolOnly_IsUnsupportedWithError()
    {
        var result = CrankerProtocol.Negotiate(["cranker_2.0"], null, s_both);

        Assert.False(result.Accepted);
        Assert.Null(result.Version);
        Assert.Null(result.SubProtocol);
        Assert.False(result.SendLegacyHeader);
        Assert.False(string.IsNullOrWhiteSpace(result.Error));
        Assert.Equal(NegotiationResult.Unsupported, result);
    }

    [Fact]
    public void Negotiate_V3OfferedToV1OnlyRouterWithoutLegacyHeader_IsUnsupported()
    {
        var result = CrankerProtocol.Negotiate(["cranker_3.0"], null, s_v1Only);

        Assert.Equal(NegotiationResult.Unsupported, result);
    }

    [Fact]
    public void Negotiate_LegacyHeaderOnly_V3OnlyRouter_IsUnsupported()
    {
        var result = CrankerProtocol.Negotiate([], "1.0", s_v3Only);

        Assert.False(result.Accepted);
        Assert.Equal(NegotiationResult.Unsupported, result);
    }

    [Fact]
    public void Negotiate_LegacyHeaderWithUnknownValue_IsUnsupported()
    {
        var result = CrankerProtocol.Negotiate([], "2.0", s_both);

        Assert.Equal(NegotiationResult.Unsupported, result);
    }

    [Fact]
    public void Missing_And_Unsupported_HaveDistinctErrors()
    {
        Assert.NotNull(NegotiationResult.Missing.Error);
        Assert.NotNull(NegotiationResult.Unsupported.Error);
        Assert.NotEqual(NegotiationResult.Missing.Error, NegotiationResult.Unsupported.Error);
        Assert.False(NegotiationResult.Missing.Accepted);
        Assert.False(NegotiationResult.Unsupported.Accepted);
    }

    [Theory]
    [InlineData("1.0", CrankerProtocol.V1)]
    [InlineData("3.0", CrankerProtocol.V3)]
    [InlineData("cranker_1.0", CrankerProtocol.V1)]
    [InlineData("cranker_3.0", CrankerProtocol.V3)]
    [InlineData(" CRANKER_1.0 ", CrankerProtocol.V1)]
    [InlineData("Cranker_3.0", CrankerProtocol.V3)]
    [InlineData("\t3.0\t", CrankerProtocol.V3)]
    public void Normalize_AcceptsKnownVersions(string input, string expected)
    {
        Assert.Equal(expected, CrankerProtocol.Normalize(input));
    }

    [Theory]
    [InlineData("2.0")]
    [InlineData("cranker_2.0")]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("1")]
    [InlineData("cranker_")]
    [InlineData("v1.0")]
    public void Normalize_RejectsEverythingElse(string input)
    {
        Assert.Null(CrankerProtocol.Normalize(input));
    }

    [Fact]
    public void Normalize_Null_IsNull()
    {
        Assert.Null(CrankerProtocol.Normalize(null));
    }

    [Fact]
    public void Constants_MatchTheWireNames()
    {
        Assert.Equal("cranker_1.0", CrankerProtocol.V1);
        Assert.Equal("cranker_3.0", CrankerProtocol.V3);
        Assert.Equal("CrankerProtocol", CrankerProtocol.LegacyHeaderName);
        Assert.Equal("1.0", CrankerProtocol.LegacyHeaderValue);
    }

    [Theory]
    [InlineData("*", true)]
    [InlineData("orders", true)]
    [InlineData("a-b_c.d~e", true)]
    [InlineData("", false)]
    [InlineData(".", false)]
    [InlineData("..", false)]
    [InlineData("../..", false)]
    [InlineData("a b", false)]
    [InlineData("%2e%2e", false)]
    [InlineData("a/b", false)]
    [InlineData("caf\u00e9", false)]
    public void IsValidRoute_AcceptsOnlyWhatAFirstPathSegmentCanMatch(string route, bool valid)
    {
        Assert.Equal(valid, CrankerProtocol.IsValidRoute(route));
    }

    [Fact]
    public void IsValidRoute_RefusesNamesLongerThanMaxRouteLength()
    {
        Assert.True(CrankerProtocol.IsValidRoute(new string('a', CrankerProtocol.MaxRouteLength)));
        Assert.False(CrankerProtocol.IsValidRoute(new string('a', CrankerProtocol.MaxRouteLength + 1)));
    }

    [Theory]
    [InlineData("a/b", true)]
    [InlineData("orders", true)]
    [InlineData("a//b", false)]
    [InlineData("/a", false)]
    [InlineData("a/", false)]
    [InlineData("a/../b", false)]
    [InlineData("a/%2e", false)]
    public void IsValidRoute_MultiSegment_AllowsValidSegmentsJoinedBySlash(string route, bool valid)
    {
        Assert.Equal(valid, CrankerProtocol.IsValidRoute(route, multiSegment: true));
    }

}
