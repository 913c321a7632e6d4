using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Putsh.Router.Registration;

namespace Putsh.Router.Tests.Registration;

/// <summary>The registration guard's rules, on a fake clock: token lines, the order of checks, scopes, refusal logging, file reload.</summary>
public sealed class RegistrationGuardTests : IDisposable
{
    private readonly FakeTimeProvider _time = new();
    private readonly FakeLogger<RegistrationGuard> _logger = new();
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("putsh-guard-");

    private RegistrationGuard Guard(Action<RouterOptions> configure)
    {
        var options = new RouterOptions();
        configure(options);
        options.Validate();
        return new RegistrationGuard(Options.Create(options), _time, _logger);
    }

    private static DefaultHttpContext Request(string? token = null, string remote = "127.0.0.1", string scheme = "Bearer")
    {
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = IPAddress.Parse(remote);
        if (token is not null)
        {
            context.Request.Headers.Authorization = $"{scheme} {token}";
        }

        return context;
    }

    [Fact]
    public void Token_lines_may_be_bound_to_routes_and_carry_comments()
    {
        var tokens = RegistrationTokens.Parse(["# rotation in progress", "", "any-route-token", "orders, payments: bound-token", "*: star-token"], "test");
        Assert.Equal(3, tokens.Count);

        Assert.True(tokens.TryMatch("any-route-token", out var any));
        Assert.Null(any);
        Assert.True(tokens.TryMatch("bound-token", out var bound));
        Assert.Equal(["orders", "payments"], bound!);
        Assert.True(tokens.TryMatch("star-token", out var star));
        Assert.Null(star);

        Assert.False(tokens.TryMatch("bound-toke", out _));
        Assert.False(tokens.TryMatch("bound-token2", out _));
        Assert.False(tokens.TryMatch("", out _));
    }

    [Theory]
    [InlineData("orders: two words", "line 1")]
    [InlineData(": secret-value", "no route")]
    [InlineData("örders: secret-value", "not a route name")]
    public void A_bad_token_line_is_named_by_its_number_and_never_shows_the_token(string line, string expected)
    {
        var error = Assert.Throws<FormatException>(() => RegistrationTokens.Parse([line], "tokens.txt"));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.Contains("tokens.txt", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-value", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("two words", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void With_no_credentials_configured_only_loopback_may_register_unless_open_registration_is_allowed()
    {
        using var closed = Guard(_ => { });
        Assert.True(closed.Check(Request(remote: "127.0.0.1")).Accepted);
        Assert.True(closed.Check(Request(remote: "::1")).Accepted);
        Assert.True(closed.Check(new DefaultHttpContext()).Accepted); // in memory: no network at all
        Assert.Equal(403, closed.Check(Request(remote: "10.1.2.3")).Status);
        Assert.Equal(403, closed.Check(Request(remote: "::ffff:10.1.2.3")).Status);

        using var open = Guard(o => o.AllowOpenRegistration = true);
        Assert.True(open.Check(Request(remote: "10.1.2.3")).Accepted);
    }

    [Fact]
    public void A_token_is_required_then_checked_then_its_routes_are_the_only_ones_permitted()
    {
        using var guard = Guard(o =>
        {
            o.RegistrationTokens.Add("open-token");
            o.RegistrationTokens.Add("orders: orders-token");
        });

        var missing = guard.Check(Request());
        Assert.Equal(401, missing.Status);
        Assert.StartsWith("Bearer realm=\"putsh registration\"", missing.Challenge, StringComparison.Ordinal);

        var wrong = guard.Check(Request("guess"));
        Assert.Equal(403, wrong.Status);
        Assert.Contains("invalid_token", wrong.Challenge, StringComparison.Ordinal);
        Assert.Equal(403, guard.Check(Request("open-token", scheme: "Basic")).Status);

        var anyRoute = guard.Check(Request("open-token", scheme: "bearer"));
        Assert.True(anyRoute.Accepted);
        Assert.True(anyRoute.Permits("payments"));

        var ordersOnly = guard.Check(Request("orders-token"));
        Assert.True(ordersOnly.Accepted);
        Assert.True(ordersOnly.Permits("orders"));
        Assert.False(ordersOnly.Permits("payments"));
        Assert.False(ordersOnly.Permits("*"));
    }

    [Fact]
    public void The_allow_list_comes_first_and_accepts_ranges_and_single_addresses()
    {
        using var guard = Guard(o =>
        {
            o.RegistrationAllow.Add("10.0.0.0/8");
            o.RegistrationAllow.Add("192.168.1.7");
            o.RegistrationAllow.Add("fd00::/8");
        });

        Assert.True(guard.Check(Request(remote: "10.200.3.4")).Accepted);
        Assert.True(guard.Check(Request(remote: "::ffff:10.200.3.4")).Accepted);
        Assert.True(guard.Check(Request(remote: "192.168.1.7")).Accepted);
        Assert.True(guard.Check(Request(remote: "fd12::1")).Accepted);
        Assert.Equal(403, guard.Check(Request(remote: "192.168.1.8")).Status);
        Assert.Equal(403, guard.Check(Request(remote: "127.0.0.1")).Status);

        foreach (var wrong in new[] { "10.0.0.0/33", "intranet", "10.0.0.0/" })
        {
            var bad = Assert.Throws<ArgumentException>(() => Guard(o => o.RegistrationAllow.Add(wrong)));
            Assert.StartsWith($"RegistrationAllow: '{wrong}'", bad.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_refusal_is_logged_once_a_minute_per_source_and_reason()
    {
        using var guard = Guard(o => o.RegistrationTokens.Add("t0ken"));
        guard.LogRefusal("10.0.0.1", 403, "the registration token is not valid");
        guard.LogRefusal("10.0.0.1", 403, "the registration token is not valid");
        guard.LogRefusal("10.0.0.2", 403, "the registration token is not valid");
        guard.LogRefusal("10.0.0.1", 401, "a registration token is required");
        Assert.Equal(3, _logger.Collector.Count);

        _time.Advance(TimeSpan.FromSeconds(59));
        guard.LogRefusal("10.0.0.1", 403, "the registration token is not valid");
        Assert.Equal(3, _logger.Collector.Count);

        _time.Advance(TimeSpan.FromSeconds(1));
        guard.LogRefusal("10.0.0.1", 403, "the registration token is not valid");
        Assert.Equal(4, _logger.Collector.Count);
        Assert.Contains("10.0.0.1", _logger.LatestRecord.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_token_file_is_read_again_when_it_changes_and_a_broken_one_keeps_the_tokens_in_force()
    {
        var file = Path.Combine(_dir.FullName, "tokens");
        File.WriteAllText(file, "first-token\n");
        using var guard = Guard(o => o.RegistrationTokenFile = file);
        Assert.True(guard.Check(Request("first-token")).Accepted);

        File.WriteAllText(file, "first-token\nsecond-token\n");
        Assert.Equal(403, guard.Check(Request("second-token")).Status); // not read again before the interval
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.True(guard.Check(Request("second-token")).Accepted);
        Assert.Contains("2 tokens", _logger.LatestRecord.Message, StringComparison.Ordinal);

        File.WriteAllText(file, "second-token\n");
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(403, guard.Check(Request("first-token")).Status);
        Assert.True(guard.Check(Request("second-token")).Accepted);

        File.WriteAllText(file, "orders: has a space\n");
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.True(guard.Check(Request("second-token")).Accepted);
        Assert.Contains("could not be used", _logger.LatestRecord.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("has a space", _logger.LatestRecord.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Start_up_errors_name_the_option()
    {
        Assert.StartsWith("Registration token file '", Assert.Throws<ArgumentException>(() => Guard(o => o.RegistrationTokenFile = Path.Combine(_dir.FullName, "missing"))).Message, StringComparison.Ordinal);
        Assert.Contains("Registration client CA", Assert.Throws<ArgumentException>(() => Guard(o => o.RegistrationClientCa = Path.Combine(_dir.FullName, "missing.pem"))).Message, StringComparison.Ordinal);
    }

    public void Dispose() => _dir.Delete(recursive: true);
}
