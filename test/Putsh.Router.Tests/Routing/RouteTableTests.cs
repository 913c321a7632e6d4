using Putsh.Router.Routing;

namespace Putsh.Router.Tests.Routing;

/// <summary>Route resolution (§3.1): first segment by default, longest prefix as an option, catch-all, keep time.</summary>
public sealed class RouteTableTests
{
    private static RouteTable Table(bool longestPrefix, params string[] routes)
    {
        var table = new RouteTable(new RouterOptions { LongestPrefixRoutes = longestPrefix }, TimeProvider.System);
        foreach (var r in routes)
        {
            table.GetOrAddV1(r);
        }

        return table;
    }

    [Theory]
    [InlineData("/a", "a")]
    [InlineData("/a/", "a")]
    [InlineData("/a/hello", "a")]
    [InlineData("a/hello", "a")]
    [InlineData("/a/b", "a/b")]
    [InlineData("/a/b/", "a/b")]
    [InlineData("/a/b/hello", "a/b")]
    [InlineData("/a/b/c", "a/b/c")]
    [InlineData("/a/b/c/", "a/b/c")]
    [InlineData("/a/b/c/hello", "a/b/c")]
    [InlineData("/ab", null)]
    [InlineData("/", null)]
    [InlineData("/non-exist/b/test", null)]
    public void Longest_prefix_matches_the_reference_table(string path, string? expected)
    {
        var table = Table(longestPrefix: true, "a", "a/b", "a/b/c");
        Assert.Equal(expected, table.Resolve(path)?.Route);
    }

    [Theory]
    [InlineData("/a/b/c", "a")]
    [InlineData("/a", "a")]
    [InlineData("/x/y", "*")]
    [InlineData("/", "*")]
    public void First_segment_routing_falls_back_to_the_catch_all(string path, string expected)
    {
        var table = Table(longestPrefix: false, "a", "a/b", "*");
        Assert.Equal(expected, table.Resolve(path)?.Route);
    }

    [Fact]
    public void Multi_segment_routes_are_unreachable_without_longest_prefix()
    {
        var table = Table(longestPrefix: false, "a/b");
        Assert.Null(table.Resolve("/a/b/c"));
    }

    [Fact]
    public void A_route_without_sockets_is_forgotten_after_the_keep_time()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var table = new RouteTable(new RouterOptions { RoutesKeepTime = TimeSpan.FromMinutes(5) }, time);
        table.GetOrAddV1("gone");

        time.Advance(TimeSpan.FromMinutes(4));
        Assert.Equal("gone", table.Resolve("/gone/x")?.Route);
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.Null(table.Resolve("/gone/x"));
    }
}
