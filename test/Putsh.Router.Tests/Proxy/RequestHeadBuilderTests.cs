using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Putsh.Router.Proxy;

namespace Putsh.Router.Tests.Proxy;

/// <summary>The request head the router sends (§2.1, §2.3), byte for byte, from a request built in memory.</summary>
public sealed class RequestHeadBuilderTests
{
    private static DefaultHttpContext Context(string? local = "10.0.0.4", string? remote = "198.51.100.23", string host = "shop.example.com", string scheme = "https", params (string Name, string Value)[] headers)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = "GET";
        context.Request.Scheme = scheme;
        context.Request.Protocol = "HTTP/1.1";
        context.Features.Get<IHttpRequestFeature>()!.RawTarget = "/a/b?c=1";
        context.Request.Headers.Host = host;
        foreach (var (name, value) in headers)
        {
            context.Request.Headers.Append(name, value);
        }

        context.Connection.LocalIpAddress = local is null ? null : IPAddress.Parse(local);
        context.Connection.RemoteIpAddress = remote is null ? null : IPAddress.Parse(remote);
        return context;
    }

    [Fact]
    public void A_browser_request_loses_hop_by_hop_and_nominated_headers_and_gains_via_and_forwarded()
    {
        var context = Context(headers:
        [
            ("Connection", "keep-alive, X-Debug-Token"),
            ("Keep-Alive", "timeout=5"),
            ("TE", "trailers"),
            ("X-Debug-Token", "d41d8cd98f00"),
            ("Accept", "*/*"),
            ("Cookie", "a=1"),
            ("Expect", "100-continue"),
            ("X-Forwarded-For", "203.0.113.7"),
            ("X-Forwarded-Proto", "https"),
        ]);

        var head = RequestHeadBuilder.Build(context, new RouterOptions { TrustedProxies = { "0.0.0.0/0", "::/0" } }, v1Marker: null);

        Assert.Equal(
            "GET /a/b?c=1 HTTP/1.1\nHost:shop.example.com\nAccept:*/*\ncookie:a=1\nvia:HTTP/1.1 putsh\n"
            + "forwarded:for=203.0.113.7;proto=https\n"
            + "forwarded:by=10.0.0.4;for=198.51.100.23;host=shop.example.com;proto=https\n\n",
            head);
    }

    [Fact]
    public void Ipv6_and_mapped_addresses_are_rfc7239_nodes_and_the_v1_marker_ends_the_head()
    {
        var context = Context(local: "::1", remote: "::ffff:192.0.2.1", host: "[::1]:8443");

        var head = RequestHeadBuilder.Build(context, new RouterOptions { TrustedProxies = { "0.0.0.0/0", "::/0" } }, v1Marker: "_2");

        Assert.Equal(
            "GET /a/b?c=1 HTTP/1.1\nHost:[::1]:8443\nvia:HTTP/1.1 putsh\n"
            + "forwarded:by=\"[::1]\";for=192.0.2.1;host=\"[::1]:8443\";proto=https\n\n_2",
            head);
    }

    [Fact]
    public void Without_addresses_the_element_has_only_host_and_proto()
    {
        var head = RequestHeadBuilder.Build(Context(local: null, remote: null, scheme: "http"), new RouterOptions { TrustedProxies = { "0.0.0.0/0", "::/0" } }, null);

        Assert.EndsWith("forwarded:host=shop.example.com;proto=http\n\n", head, StringComparison.Ordinal);
    }

    [Fact]
    public void Legacy_headers_describe_this_hop_when_the_client_sent_none()
    {
        var head = RequestHeadBuilder.Build(Context(remote: "2001:db8::7"), new RouterOptions { TrustedProxies = { "0.0.0.0/0", "::/0" }, SendLegacyForwardedHeaders = true }, null);

        Assert.EndsWith(
            "forwarded:by=10.0.0.4;for=\"[2001:db8::7]\";host=shop.example.com;proto=https\n"
            + "x-forwarded-proto:https\nx-forwarded-host:shop.example.com\nx-forwarded-for:[2001:db8::7]\n\n",
            head,
            StringComparison.Ordinal);
    }

    [Fact]
    public void Legacy_headers_come_from_the_oldest_element()
    {
        var context = Context(headers: [("Forwarded", "for=\"[2001:db8::1]\";proto=http, for=10.9.8.7")]);

        var head = RequestHeadBuilder.Build(context, new RouterOptions { TrustedProxies = { "0.0.0.0/0", "::/0" }, SendLegacyForwardedHeaders = true }, null);

        Assert.EndsWith(
            "forwarded:for=\"[2001:db8::1]\";proto=http\nforwarded:for=10.9.8.7\n"
            + "forwarded:by=10.0.0.4;for=198.51.100.23;host=shop.example.com;proto=https\n"
            + "x-forwarded-proto:http\nx-forwarded-for:[2001:db8::1]\n\n",
            head,
            StringComparison.Ordinal);
    }

    [Fact]
    public void A_prior_via_is_kept_before_ours()
    {
        var head = RequestHeadBuilder.Build(Context(headers: [("Via", "1.1 edge")]), new RouterOptions { TrustedProxies = { "0.0.0.0/0", "::/0" }, ViaName = "r1" }, null);

        Assert.Contains("\nvia:1.1 edge, HTTP/1.1 r1\n", head, StringComparison.Ordinal);
    }

    [Fact]
    public void Values_longer_than_the_stack_buffer_take_the_string_path_with_the_same_text()
    {
        var longHost = new string('h', 300) + ".example.com";
        var longVia = new string('v', 300);
        var context = Context(host: longHost, headers: [("Forwarded", "host=" + longHost)]);

        var head = RequestHeadBuilder.Build(context, new RouterOptions { TrustedProxies = { "0.0.0.0/0", "::/0" }, ViaName = longVia }, null);

        Assert.Contains("\nvia:HTTP/1.1 " + longVia + "\n", head, StringComparison.Ordinal);
        Assert.Contains("\nforwarded:host=" + longHost + "\n", head, StringComparison.Ordinal);
        Assert.Contains("\nforwarded:by=10.0.0.4;for=198.51.100.23;host=" + longHost + ";proto=https\n", head, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("203.0.113.7", "shop.example.com", "8443", "https", "forwarded:for=203.0.113.7;host=\"shop.example.com:8443\";proto=https\n")]
    [InlineData("203.0.113.7", "shop.example.com", "443", "https", "forwarded:for=203.0.113.7;host=shop.example.com;proto=https\n")]
    [InlineData("203.0.113.7, 10.1.1.1", "a, b", null, "https", "forwarded:for=203.0.113.7;host=a\nforwarded:for=10.1.1.1;host=b\n")]
    public void Legacy_client_headers_become_prior_elements(string xfFor, string xfHost, string? xfPort, string xfProto, string expected)
    {
        var headers = new List<(string, string)> { ("X-Forwarded-For", xfFor), ("X-Forwarded-Host", xfHost), ("X-Forwarded-Proto", xfProto) };
        if (xfPort is not null)
        {
            headers.Add(("X-Forwarded-Port", xfPort));
        }

        var head = RequestHeadBuilder.Build(Context(headers: [.. headers]), new RouterOptions { TrustedProxies = { "0.0.0.0/0", "::/0" } }, null);

        Assert.Contains("\nvia:HTTP/1.1 putsh\n" + expected + "forwarded:by=10.0.0.4;", head, StringComparison.Ordinal);
    }

    [Fact]
    public void Forwarding_headers_from_a_client_that_is_not_a_trusted_proxy_are_dropped()
    {
        var context = Context(remote: "198.51.100.9", headers: [("Forwarded", "for=6.6.6.6"), ("X-Forwarded-For", "7.7.7.7")]);
        var head = RequestHeadBuilder.Build(context, new RouterOptions { SendLegacyForwardedHeaders = true }, v1Marker: null);

        Assert.DoesNotContain("6.6.6.6", head, StringComparison.Ordinal);
        Assert.DoesNotContain("7.7.7.7", head, StringComparison.Ordinal);
        Assert.Contains("\nforwarded:by=", head, StringComparison.Ordinal);
        Assert.Contains("\nx-forwarded-for:198.51.100.9\n", head, StringComparison.Ordinal);
    }
}
