using Putsh.Protocol.Headers;

namespace Putsh.Protocol.Tests;

public class HopByHopHeadersTests
{
    [Theory]
    [InlineData("connection")]
    [InlineData("keep-alive")]
    [InlineData("transfer-encoding")]
    [InlineData("te")]
    [InlineData("trailer")]
    [InlineData("upgrade")]
    [InlineData("proxy-authorization")]
    [InlineData("proxy-authenticate")]
    [InlineData("proxy-connection")]
    [InlineData("http2-settings")]
    public void IsHopByHop_TheHopByHopSet(string name)
    {
        Assert.True(HopByHopHeaders.IsHopByHop(name));
        Assert.True(HopByHopHeaders.ShouldSkip(name, null));
        Assert.True(HopByHopHeaders.ShouldSkip(name, []));
    }

    [Theory]
    [InlineData("Connection")]
    [InlineData("KEEP-ALIVE")]
    [InlineData("Transfer-Encoding")]
    [InlineData("TE")]
    [InlineData("Upgrade")]
    [InlineData("Proxy-Authorization")]
    public void HopByHopNames_AreCaseInsensitive(string name)
    {
        Assert.True(HopByHopHeaders.IsHopByHop(name));
        Assert.True(HopByHopHeaders.ShouldSkip(name, null));
    }

    [Theory]
    [InlineData("content-length")]
    [InlineData("Content-Type")]
    [InlineData("cookie")]
    [InlineData("authorization")]
    [InlineData("user-agent")]
    [InlineData("accept-encoding")]
    [InlineData("host")]
    [InlineData("set-cookie")]
    [InlineData("date")]
    [InlineData("tee")]
    [InlineData("x-connection")]
    public void EndToEndHeaders_AreNotSkipped(string name)
    {
        Assert.False(HopByHopHeaders.IsHopByHop(name));
        Assert.False(HopByHopHeaders.ShouldSkip(name, null));
        Assert.False(HopByHopHeaders.ShouldSkip(name, []));
    }

    [Fact]
    public void ShouldSkip_HeaderNominatedByConnection_IsSkipped()
    {
        var tokens = HopByHopHeaders.ParseConnectionTokens(["close, X-Custom-Hop"]);

        Assert.True(HopByHopHeaders.ShouldSkip("X-Custom-Hop", tokens));
        Assert.False(HopByHopHeaders.IsHopByHop("X-Custom-Hop"));
        Assert.False(HopByHopHeaders.ShouldSkip("X-Custom-Hop", null));
    }

    [Theory]
    [InlineData("x-custom-hop")]
    [InlineData("X-CUSTOM-HOP")]
    [InlineData("X-Custom-Hop")]
    public void ShouldSkip_ConnectionTokens_MatchCaseInsensitively(string name)
    {
        string[] tokens = ["X-Custom-Hop"];

        Assert.True(HopByHopHeaders.ShouldSkip(name, tokens));
    }

    [Fact]
    public void ShouldSkip_NotNominated_IsKept()
    {
        string[] tokens = ["x-a", "x-b"];

        Assert.False(HopByHopHeaders.ShouldSkip("x-c", tokens));
        Assert.False(HopByHopHeaders.ShouldSkip("x-a-b", tokens));
        Assert.False(HopByHopHeaders.ShouldSkip("x", tokens));
        Assert.True(HopByHopHeaders.ShouldSkip("x-b", tokens));
    }

    [Fact]
    public void ParseConnectionTokens_SplitsTrimsAndDropsEmpties_AcrossValues()
    {
        var tokens = HopByHopHeaders.ParseConnectionTokens([" keep-alive ,X-Foo", null, "", " , ", "Upgrade,,x-bar "]);

        Assert.NotNull(tokens);
        Assert.Equal(["keep-alive", "X-Foo", "Upgrade", "x-bar"], tokens);
    }

    [Fact]
    public void ParseConnectionTokens_NoTokens_ReturnsNull()
    {
        Assert.Null(HopByHopHeaders.ParseConnectionTokens([]));
        Assert.Null(HopByHopHeaders.ParseConnectionTokens([null, "", " , ,"]));
    }

    [Fact]
    public void ParseConnectionTokens_SingleToken()
    {
        var tokens = HopByHopHeaders.ParseConnectionTokens(["close"]);

        Assert.Equal(["close"], tokens);
    }

    [Fact]
    public void ParseConnectionTokens_Null_Throws()
    {
        Assert.Throws<ArgumentNullException>(() => HopByHopHeaders.ParseConnectionTokens(null!));
    }
}
