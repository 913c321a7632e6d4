using Putsh.Cli.Tests;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.FunctionalTests;

/// <summary>The router's forwarding-header options (§2.3), each observed at a real backend.</summary>
public sealed class HeaderOptionTests(ITestOutputHelper output)
{
    private async Task<string[]> HeadersSeenByBackend(Action<Putsh.Router.RouterOptions> configure, Action<HttpRequestMessage> prepare)
    {
        await using var backend = await TestBackend.StartAsync(app => Backends.Map(app, "/opt"), output);
        await using var router = await CliTestRouter.StartAsync(output, configure);
        await using var connector = await TestConnector.StartAsync(router, "opt", backend, output, o => o.PreserveHost = true);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/opt/headers");
        prepare(request);
        using var response = await router.Client.SendAsync(request).DefaultTimeout();
        return (await response.Content.ReadAsStringAsync().DefaultTimeout()).Split('\n');
    }

    [Fact]
    public async Task Legacy_forwarded_headers_come_from_the_oldest_element()
    {
        var lines = await HeadersSeenByBackend(o => o.SendLegacyForwardedHeaders = true, r => r.Headers.Add("X-Forwarded-For", "123.0.0.0"));

        Assert.Contains("x-forwarded-for: 123.0.0.0", lines);
        Assert.DoesNotContain(lines, l => l.StartsWith("x-forwarded-proto", StringComparison.Ordinal));
        var forwarded = lines.Where(l => l.StartsWith("forwarded:", StringComparison.Ordinal)).SelectMany(l => l["forwarded: ".Length..].Split(", ")).ToList();
        Assert.Equal(2, forwarded.Count);
        Assert.Equal("for=123.0.0.0", forwarded[0]);
    }

    [Fact]
    public async Task Legacy_forwarded_headers_describe_this_hop_when_the_client_sent_none()
    {
        var lines = await HeadersSeenByBackend(o => o.SendLegacyForwardedHeaders = true, _ => { });

        Assert.Contains("x-forwarded-for: 127.0.0.1", lines);
        Assert.Contains("x-forwarded-proto: http", lines);
        Assert.Contains(lines, l => l.StartsWith("x-forwarded-host: 127.0.0.1:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Client_forwarding_headers_can_be_discarded()
    {
        var lines = await HeadersSeenByBackend(o => o.DiscardClientForwardedHeaders = true, r => r.Headers.Add("Forwarded", "for=6.6.6.6"));

        var forwarded = lines.Where(l => l.StartsWith("forwarded:", StringComparison.Ordinal)).ToList();
        Assert.Single(forwarded);
        Assert.DoesNotContain("6.6.6.6", forwarded[0]);
        Assert.Contains("for=127.0.0.1", forwarded[0]);
    }

    [Fact]
    public async Task A_client_that_is_not_a_trusted_proxy_cannot_claim_another_address()
    {
        var lines = await HeadersSeenByBackend(
            o =>
            {
                o.TrustedProxies.Clear();
                o.TrustedProxies.Add("10.0.0.0/8"); // the test client, on loopback, is not one of them
                o.SendLegacyForwardedHeaders = true;
            },
            r =>
            {
                r.Headers.Add("Forwarded", "for=6.6.6.6;proto=https");
                r.Headers.Add("X-Forwarded-For", "7.7.7.7");
            });

        var forwarded = lines.Where(l => l.StartsWith("forwarded:", StringComparison.Ordinal)).ToList();
        Assert.Single(forwarded);
        Assert.Contains("for=127.0.0.1", forwarded[0]);
        Assert.DoesNotContain(lines, l => l.Contains("6.6.6.6", StringComparison.Ordinal) || l.Contains("7.7.7.7", StringComparison.Ordinal));
        Assert.Contains("x-forwarded-for: 127.0.0.1", lines);
        Assert.Contains("x-forwarded-proto: http", lines);
    }

    [Fact]
    public async Task A_trusted_proxy_in_front_keeps_its_forwarding_headers()
    {
        // Loopback is trusted by default: the test client stands for a proxy on this machine.
        var lines = await HeadersSeenByBackend(_ => { }, r => r.Headers.Add("Forwarded", "for=10.1.2.3;proto=https"));
        var forwarded = lines.Where(l => l.StartsWith("forwarded:", StringComparison.Ordinal)).SelectMany(l => l["forwarded: ".Length..].Split(", ")).ToList();
        Assert.Equal(2, forwarded.Count);
        Assert.Equal("for=10.1.2.3;proto=https", forwarded[0]);
    }

    [Fact]
    public async Task The_host_header_can_be_withheld_so_the_backend_sees_its_own()
    {
        await using var backend = await TestBackend.StartAsync(app => Backends.Map(app, "/opt"), output);
        await using var router = await CliTestRouter.StartAsync(output, o => o.ProxyHostHeader = false);
        await using var connector = await TestConnector.StartAsync(router, "opt", backend, output);
        var lines = (await router.Client.GetStringAsync("/opt/headers").DefaultTimeout()).Split('\n');

        Assert.Contains($"host: {backend.Uri.Authority}", lines);
    }
}
