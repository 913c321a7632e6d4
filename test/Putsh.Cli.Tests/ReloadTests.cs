using System.Net;
using System.Net.Security;
using System.Net.WebSockets;
using System.Security.Cryptography.X509Certificates;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Cli.Tests;

/// <summary>A running <c>putsh router</c> reloads its configuration on SIGHUP: log level, registration tokens and TLS certificate.</summary>
public sealed class ReloadTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestCertificates _certificates = new();
    private readonly string _file = Path.Combine(Path.GetTempPath(), $"putsh-reload-{Guid.NewGuid():N}.json");

    [Fact]
    public async Task Sighup_applies_a_new_log_level_registration_tokens_and_certificate_to_new_connections()
    {
        var first = _certificates.Server("first");
        var second = _certificates.Server("second");
        _trusted.Add(TestCertificates.Load(first).Thumbprint);
        _trusted.Add(TestCertificates.Load(second).Thumbprint);
        Write("Information", "token-one", first);
        var (router, clients, register, _) = await PutshProcess.StartRouterOnAsync(output, "https://127.0.0.1:0", "https://127.0.0.1:0", "--config", _file);
        await using var _ = router;

        Assert.Equal(HttpStatusCode.SwitchingProtocols, (await RegisterAsync(register, "token-one")).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await RegisterAsync(register, "token-two")).Status);
        Assert.Equal(TestCertificates.Load(first).Thumbprint, (await RegisterAsync(register, "token-one")).Thumbprint);
        using var client = Client();
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync(new Uri(clients, "/before-reload/"))).StatusCode);

        Write("Debug", "token-two", second);
        await router.SignalAsync("HUP");
        await router.WaitForLineAsync(l => l.Contains("Configuration reloaded", StringComparison.Ordinal) && l.Contains("log level Debug", StringComparison.Ordinal));

        var (status, thumbprint) = await RegisterAsync(register, "token-two");
        Assert.Equal(HttpStatusCode.SwitchingProtocols, status);
        Assert.Equal(TestCertificates.Load(second).Thumbprint, thumbprint); // a new connection, the new certificate
        Assert.Equal(HttpStatusCode.Forbidden, (await RegisterAsync(register, "token-one")).Status);

        // Debug lines appear from the reload on, and the 404 before it, logged at Debug, was not written.
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync(new Uri(clients, "/after-reload/"))).StatusCode);
        await router.WaitForLineAsync(l => l.Contains("/after-reload/: no route, 404", StringComparison.Ordinal));
        Assert.DoesNotContain(router.Lines, l => l.Contains("/before-reload/", StringComparison.Ordinal));

        // A configuration that no longer checks leaves the running one in force.
        File.WriteAllText(_file, """{ "Router": { "IdleTimeout": "soon" } }""");
        await router.SignalAsync("HUP");
        await router.WaitForLineAsync(l => l.Contains("Configuration not reloaded", StringComparison.Ordinal) && l.Contains("'soon' is not a duration", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.SwitchingProtocols, (await RegisterAsync(register, "token-two")).Status);

        // A change to the file is a reload of its own, with no signal.
        Write("Information", "token-three", first);
        await router.WaitForLineAsync(l => l.Contains("Configuration reloaded", StringComparison.Ordinal) && l.Contains("changed)", StringComparison.Ordinal) && l.Contains("log level Information", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.SwitchingProtocols, (await RegisterAsync(register, "token-three")).Status);
    }

    private void Write(string level, string token, (string CertFile, string KeyFile) certificate)
    {
        // Written whole and renamed into place, so that the file watcher never reads half of it.
        var temporary = _file + ".tmp";
        File.WriteAllText(temporary, $$"""
            { "LogLevel": "{{level}}",
              "Router": { "RegistrationTokens": ["{{token}}"], "TlsCert": "{{certificate.CertFile}}", "TlsKey": "{{certificate.KeyFile}}" } }
            """);
        File.Move(temporary, _file, overwrite: true);
    }

    /// <summary>The test's own server certificates, which are all a client here trusts.</summary>
    private readonly HashSet<string> _trusted = [];

    private HttpClient Client() => new(new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = (_, c, _, _) => c is not null && _trusted.Contains(new X509Certificate2(c).Thumbprint) } });

    /// <summary>Opens a registration with <paramref name="token"/> on a new connection; returns its status and the certificate the router served.</summary>
    private async Task<(HttpStatusCode Status, string? Thumbprint)> RegisterAsync(Uri register, string token)
    {
        string? thumbprint = null;
        using var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                {
                    thumbprint = certificate is null ? null : new X509Certificate2(certificate).Thumbprint;
                    return thumbprint is not null && _trusted.Contains(thumbprint);
                },
            },
        };
        using var invoker = new HttpMessageInvoker(handler);
        using var ws = new ClientWebSocket();
        ws.Options.CollectHttpResponseDetails = true;
        ws.Options.AddSubProtocol("cranker_3.0");
        ws.Options.SetRequestHeader("Route", "reload");
        ws.Options.SetRequestHeader("Authorization", "Bearer " + token);
        try
        {
            await ws.ConnectAsync(new Uri(register, $"/register/?connectorInstanceID={Guid.NewGuid()}&componentName=probe"), invoker, TestTimeouts.Token());
            await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "probe done", TestTimeouts.Token());
        }
        catch (WebSocketException)
        {
        }

        return (ws.HttpStatusCode, thumbprint);
    }

    public void Dispose()
    {
        _certificates.Dispose();
        File.Delete(_file);
    }
}
