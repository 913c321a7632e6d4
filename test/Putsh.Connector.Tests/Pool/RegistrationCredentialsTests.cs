using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Putsh.Connector.Pool;

namespace Putsh.Connector.Tests.Pool;

/// <summary>What the connector presents to routers: the token, from the options or a file read again on a fake clock, and its checks.</summary>
public sealed class RegistrationCredentialsTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("putsh-creds-");

    private ConnectorOptions Options(Action<ConnectorOptions> configure)
    {
        var options = new ConnectorOptions { Route = "orders", Target = "http://127.0.0.1:1" };
        options.Routers.Add("ws://127.0.0.1:2");
        configure(options);
        return options;
    }

    [Fact]
    public void An_inline_token_is_sent_as_bearer_credentials_and_none_sends_nothing()
    {
        using var withToken = new RegistrationCredentials(Options(o => o.Token = "abc.123"), TimeProvider.System);
        Assert.Equal("Bearer abc.123", withToken.AuthorizationHeader);
        using var without = new RegistrationCredentials(Options(_ => { }), TimeProvider.System);
        Assert.Null(without.AuthorizationHeader);
        Assert.Null(without.ClientCertificate);
    }

    [Fact]
    public void The_token_file_is_read_again_every_two_seconds_and_an_emptied_or_broken_file_keeps_the_last_token()
    {
        var file = Path.Combine(_dir.FullName, "token");
        File.WriteAllText(file, "# comment\n\nfirst\n");
        var time = new FakeTimeProvider();
        using var credentials = new RegistrationCredentials(Options(o => o.TokenFile = file), time, NullLogger.Instance);
        Assert.Equal("Bearer first", credentials.AuthorizationHeader);

        File.WriteAllText(file, "second\n");
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal("Bearer first", credentials.AuthorizationHeader);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal("Bearer second", credentials.AuthorizationHeader);

        File.WriteAllText(file, "");
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal("Bearer second", credentials.AuthorizationHeader);

        File.WriteAllText(file, "has space\n");
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal("Bearer second", credentials.AuthorizationHeader);
    }

    [Theory]
    [InlineData("both")]
    [InlineData("space")]
    [InlineData("missing-file")]
    [InlineData("empty-file")]
    [InlineData("cert-without-key")]
    [InlineData("unreadable-cert")]
    public void Wrong_credentials_options_are_one_clear_start_up_error(string case_)
    {
        var empty = Path.Combine(_dir.FullName, "empty");
        File.WriteAllText(empty, "\n# nothing\n");
        var garbage = Path.Combine(_dir.FullName, "garbage.pem");
        File.WriteAllText(garbage, "not a certificate");
        var options = Options(o =>
        {
            switch (case_)
            {
                case "both": o.Token = "a"; o.TokenFile = empty; break;
                case "space": o.Token = "a b"; break;
                case "missing-file": o.TokenFile = Path.Combine(_dir.FullName, "nope"); break;
                case "empty-file": o.TokenFile = empty; break;
                case "cert-without-key": o.ClientCertificateFile = garbage; break;
                case "unreadable-cert": o.ClientCertificateFile = garbage; o.ClientKeyFile = garbage; break;
            }
        });

        var error = Assert.Throws<ArgumentException>(options.Validate);
        Assert.DoesNotContain('\n', error.Message);
        Assert.Matches("(?i)token|certificate|client", error.Message);
    }

    public void Dispose() => _dir.Delete(recursive: true);
}
