using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Putsh.Cli.Commands;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Cli.Tests;

/// <summary>
/// The executable's listener limits, each shown to hold while a normal client of the same router is served: request
/// heads too large or with too many fields, a head sent too slowly, too many client connections, too many
/// registrations that never finish their handshake.
/// </summary>
public sealed class ListenerLimitTests(ITestOutputHelper output)
{
    private static RouterSettings Settings(Action<RouterSettings> configure)
    {
        var settings = new RouterSettings { Listen = ["http://127.0.0.1:0"], Register = ["http://127.0.0.1:0"] };
        configure(settings);
        return settings;
    }

    private static async Task<TcpClient> ConnectAsync(Uri uri)
    {
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, uri.Port).DefaultTimeout();
        return client;
    }

    /// <summary>
    /// Connects to a listener that is full and returns what it sent before ending the connection. The server may end it
    /// so soon that the connect itself already sees the reset: that is ended too, with nothing sent.
    /// </summary>
    private static async Task<string> RefusedAsync(Uri uri, ReadOnlyMemory<byte> request)
    {
        try
        {
            using var client = await ConnectAsync(uri);
            await client.GetStream().WriteAsync(request).AsTask().DefaultTimeout();
            return await ReadToEndAsync(client);
        }
        catch (Exception ex) when (ex is SocketException or IOException)
        {
            return "";
        }
    }

    /// <summary>Reads until the server ends the connection; what it sent before that.</summary>
    private static async Task<string> ReadToEndAsync(TcpClient client)
    {
        var stream = client.GetStream();
        var received = new MemoryStream();
        var buffer = new byte[4096];
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer, TestTimeouts.Token()).AsTask().DefaultTimeout()) > 0)
            {
                received.Write(buffer, 0, n);
            }
        }
        catch (IOException)
        {
            // Reset rather than closed: ended all the same.
        }

        return Encoding.ASCII.GetString(received.ToArray());
    }

    private async Task<(TestBackend Backend, Putsh.Connector.CrankerConnector Connector)> ServeAsync(TestRouter router) =>
        (await TestBackend.StartAsync(app => app.MapGet("/ok/{**rest}", () => "ok"), output) is var backend
            ? (backend, await TestConnector.StartAsync(router, "ok", backend, output))
            : default);

    [Fact]
    public async Task Request_heads_too_large_or_with_too_many_fields_get_431_while_normal_requests_pass()
    {
        await using var router = await CliTestRouter.StartAsync(Settings(s =>
        {
            s.Limits.MaxRequestHeadSize = 4096;
            s.Limits.MaxRequestHeaders = 10;
        }), output);
        var (backend, connector) = await ServeAsync(router);
        await using var _b = backend;
        await using var _c = connector;

        using (var big = new HttpRequestMessage(HttpMethod.Get, "/ok/big"))
        {
            big.Headers.Add("x-big", new string('b', 5000));
            using var response = await router.Client.SendAsync(big).DefaultTimeout();
            Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, response.StatusCode);
            // A short body that names the limit.
            var reason = await response.Content.ReadAsStringAsync().DefaultTimeout();
            Assert.Matches(@"^Request Header Fields Too Large: \d+ bytes of header fields, at most 4096 accepted\.\n$", reason);
        }

        using (var many = new HttpRequestMessage(HttpMethod.Get, "/ok/many"))
        {
            for (var i = 0; i < 15; i++)
            {
                many.Headers.Add($"x-h{i}", "v");
            }

            using var response = await router.Client.SendAsync(many).DefaultTimeout();
            Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, response.StatusCode);
            Assert.Matches(@"^Request Header Fields Too Large: \d+ header fields, at most 10 accepted\.\n$", await response.Content.ReadAsStringAsync().DefaultTimeout());
        }

        // Past twice the limit Kestrel stops reading and refuses it itself, still with 431.
        using (var huge = new HttpRequestMessage(HttpMethod.Get, "/ok/huge"))
        {
            huge.Headers.Add("x-huge", new string('h', 9000));
            using var response = await router.Client.SendAsync(huge).DefaultTimeout();
            Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, response.StatusCode);
        }

        // Just inside both limits: served.
        using (var fits = new HttpRequestMessage(HttpMethod.Get, "/ok/fits"))
        {
            fits.Headers.Add("x-fits", new string('f', 3000));
            for (var i = 0; i < 5; i++)
            {
                fits.Headers.Add($"x-h{i}", "v");
            }

            using var response = await router.Client.SendAsync(fits).DefaultTimeout();
            Assert.Equal("ok", await response.Content.ReadAsStringAsync().DefaultTimeout());
        }

        Assert.Equal("ok", await router.Client.GetStringAsync("/ok/normal").DefaultTimeout());
    }

    [Fact]
    public async Task A_client_that_sends_its_head_too_slowly_is_disconnected_while_others_are_served()
    {
        await using var router = await CliTestRouter.StartAsync(Settings(s => s.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(1)), output);
        var (backend, connector) = await ServeAsync(router);
        await using var _b = backend;
        await using var _c = connector;

        using var slow = await ConnectAsync(router.ClientUri);
        await slow.GetStream().WriteAsync("GET /ok/slow HTTP/1.1\r\nHost: a\r\nx-partial: "u8.ToArray()).AsTask().DefaultTimeout();
        var normal = router.Client.GetStringAsync("/ok/normal");

        var answer = await ReadToEndAsync(slow);
        Assert.DoesNotContain("200 OK", answer, StringComparison.Ordinal);
        Assert.Equal("ok", await normal.DefaultTimeout());
    }

    [Fact]
    public async Task An_upload_slower_than_the_minimum_body_rate_is_ended_while_others_are_served()
    {
        await using var router = await CliTestRouter.StartAsync(Settings(s => s.Limits.MinRequestBodyRate = 1_000_000), output);
        var (backend, connector) = await ServeAsync(router);
        await using var _b = backend;
        await using var _c = connector;

        // 10 bytes of a promised 100,000, then nothing: after Kestrel's 5 s grace the upload is too slow.
        using var trickle = await ConnectAsync(router.ClientUri);
        await trickle.GetStream().WriteAsync("POST /ok/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n0123456789"u8.ToArray()).AsTask().DefaultTimeout();
        var normal = router.Client.GetStringAsync("/ok/normal");

        var answer = await ReadToEndAsync(trickle);
        Assert.DoesNotContain("200 OK", answer, StringComparison.Ordinal);
        Assert.Equal("ok", await normal.DefaultTimeout());
    }

    [Fact]
    public async Task Client_connections_past_the_listener_limit_are_closed_at_once_and_those_within_it_are_served()
    {
        await using var router = await CliTestRouter.StartAsync(Settings(s => s.Limits.MaxClientConnections = 3), output);
        var (backend, connector) = await ServeAsync(router);
        await using var _b = backend;
        await using var _c = connector;

        using var idle1 = await ConnectAsync(router.ClientUri);
        using var idle2 = await ConnectAsync(router.ClientUri);
        Assert.Equal("ok", await router.Client.GetStringAsync("/ok/third").DefaultTimeout()); // the third connection

        Assert.Equal("", await RefusedAsync(router.ClientUri, "GET /ok/fourth HTTP/1.1\r\nHost: a\r\n\r\n"u8.ToArray()));

        // The connection already open goes on being served.
        Assert.Equal("ok", await router.Client.GetStringAsync("/ok/again").DefaultTimeout());
    }

    [Fact]
    public async Task A_client_that_stops_reading_its_download_is_disconnected_and_what_it_held_is_let_go()
    {
        await using var backend = await TestBackend.StartAsync(app => app.MapGet("/endless/{**rest}", async (Microsoft.AspNetCore.Http.HttpContext context) =>
        {
            var chunk = new byte[64 * 1024];
            try
            {
                // Bounded: 4 GiB would take far longer than the test's timeout to be read by anyone.
                for (var i = 0; i < 65_536 && !context.RequestAborted.IsCancellationRequested; i++)
                {
                    await context.Response.Body.WriteAsync(chunk, context.RequestAborted);
                }
            }
            catch (OperationCanceledException)
            {
            }
        }), output);
        await using var router = await CliTestRouter.StartAsync(Settings(s => s.Limits.MinResponseRate = 1_000_000), output);
        await using var connector = await TestConnector.StartAsync(router, "endless", backend, output);

        using var stalled = await ConnectAsync(router.ClientUri);
        await stalled.GetStream().WriteAsync("GET /endless/x HTTP/1.1\r\nHost: a\r\n\r\n"u8.ToArray()).AsTask().DefaultTimeout();

        // Never read: once the socket buffers are full the client makes no progress, and after Kestrel's 5 s grace
        // the router disconnects it and resets the stream; its request ends and what it held is let go.
        var drain = router.Services.GetRequiredService<Putsh.Router.Hosting.RouterDrain>();
        var budget = router.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Putsh.Router.RouterOptions>>().Value.ResponseBudget;
        await Eventually.True(() => drain.RequestsInFlight == 1 && budget.Held > 0, "the download to be under way");
        await Eventually.True(() => drain.RequestsInFlight == 0, "the stalled client's request to end");
        await Eventually.True(() => budget.Held == 0, "the router to hold no response bytes");
    }

    [Fact]
    public async Task Registrations_that_never_finish_their_handshake_are_bounded_in_number_and_time()
    {
        var time = new FakeTimeProvider();
        await using var router = await CliTestRouter.StartAsync(Settings(s =>
        {
            s.Limits.MaxPendingRegistrations = 2;
            s.Limits.RegistrationHandshakeTimeout = TimeSpan.FromSeconds(10);
            s.Time = time;
        }), output);

        using var pending1 = await ConnectAsync(router.RegisterUri);
        using var pending2 = await ConnectAsync(router.RegisterUri);
        var reading1 = ReadToEndAsync(pending1);
        var reading2 = ReadToEndAsync(pending2);

        Assert.Equal("", await RefusedAsync(router.RegisterUri, ReadOnlyMemory<byte>.Empty)); // over the limit: closed at once

        time.Advance(TimeSpan.FromSeconds(10)); // the two that never sent a handshake are closed
        Assert.Equal("", await reading1);
        Assert.Equal("", await reading2);

        // A real connector registers and serves once there is room.
        var (backend, connector) = await ServeAsync(router);
        await using var _b = backend;
        await using var _c = connector;
        Assert.Equal("ok", await router.Client.GetStringAsync("/ok/now").DefaultTimeout());
    }
}
