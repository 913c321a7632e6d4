namespace Putsh.Connector.AspNetCore.Tests;

public sealed class ForwardedNodeTests
{
    [Theory]
    [InlineData("127.0.0.1", "127.0.0.1", 0)]
    [InlineData("127.0.0.1:5000", "127.0.0.1", 5000)]
    [InlineData("[::1]", "::1", 0)]
    [InlineData("[::1]:443", "::1", 443)]
    [InlineData("\"[2001:db8::17]:4711\"", "2001:db8::17", 4711)]
    [InlineData("0:0:0:0:0:0:0:1", "::1", 0)]
    [InlineData("[::ffff:10.0.0.1]", "10.0.0.1", 0)]
    [InlineData("10.0.0.1:_hidden", "10.0.0.1", 0)]
    public void An_address_and_port_are_read(string node, string address, int port)
    {
        var (a, p) = ForwardedNode.Parse(node);
        Assert.Equal(address, a?.ToString());
        Assert.Equal(port, p);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("unknown")]
    [InlineData("_obfuscated")]
    [InlineData("[::1")]
    [InlineData("router.example")]
    public void Anything_else_is_no_address(string? node)
    {
        var (a, p) = ForwardedNode.Parse(node);
        Assert.Null(a);
        Assert.Equal(0, p);
    }
}
