using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Putsh.Cli.Tests;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.FunctionalTests;

/// <summary>cranker_3.0 end to end: many streams on one socket, isolation, resets, mixed versions, domains, fallback.</summary>
public sealed class V3Tests(ITestOutputHelper output)
{
    private const int TenMiB = 10 * 1024 * 1024;

    [Fact]
    public async Task Ten_concurrent_10_MiB_uploads_and_downloads_share_one_socket_byte_exact()
    {
        await using var backend = await TestBackend.StartAsync(app => Backends.Map(app, "/many"), output);
        await using var router = await CliTestRouter.StartAsync(output);
        await using var connector = await TestConnector.StartAsync(router, "many", backend, output, TestConnector.V3Only, sockets: 1);
        Assert.Equal(1, router.V3Pool("many")!.Count);

        var uploads = Enumerable.Range(0, 10).Select(async _ =>
        {
            var data = RandomNumberGenerator.GetBytes(TenMiB);
            using var response = await router.Client.PostAsync("/many/upload", new ByteArrayContent(data));
            var parts = (await response.Content.ReadAsStringAsync()).Split(' ');
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(Backends.Sha256(data), parts[1]);
        });
        var expected = Backends.Sha256(Backends.Pattern(TenMiB));
        var downloads = Enumerable.Range(0, 10).Select(async i =>
        {
            var data = await router.Client.GetByteArrayAsync($"/many/download?size={TenMiB}&chunked={i % 2 == 0}");
            Assert.Equal(expected, Backends.Sha256(data));
        });

        // 200 MiB through a Debug build: a generous bound, so that a busy 2-core machine cannot fail it.
        await Task.WhenAll(uploads.Concat(downloads)).WaitAsync(TimeSpan.FromMinutes(3));
        Assert.Equal(1, router.V3Pool("many")!.Count);
        Assert.Equal(1, connector.Routers[0].IdleSockets);
    }

    [Fact]
    public async Task A_client_abort_resets_only_its_stream_and_stops_the_target_call()
    {
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await TestBackend.StartAsync(app =>
        {
            Backends.Map(app, "/rst");
            app.MapGet("/rst/endless", async (HttpContext c) =>
            {
                c.RequestAborted.Register(() => aborted.TrySetResult());
                await c.Response.WriteAsync("first chunk\n");
                await c.Response.Body.FlushAsync();
                started.TrySetResult();
                await Task.Delay(Timeout.Infinite, c.RequestAborted);
            });
        }, output);
        await using var router = await CliTestRouter.StartAsync(output);
        await using var connector = await TestConnector.StartAsync(router, "rst", backend, output, TestConnector.V3Only, sockets: 1);

        using (var response = await router.Client.GetAsync("/rst/endless", HttpCompletionOption.ResponseHeadersRead).DefaultTimeout())
        {
            await started.Task.DefaultTimeout();
        }

        // Disposing the unfinished response drops the client; the router resets the stream, the connector stops the call.
        await aborted.Task.DefaultTimeout();
        Assert.StartsWith("method=GET", await router.Client.GetStringAsync("/rst/method").DefaultTimeout());
        Assert.Equal(1, router.V3Pool("rst")!.Count);
    }

    [Fact]
    public async Task A_target_that_dies_mid_response_fails_that_client_and_the_socket_serves_on()
    {
        await using var backend = await TestBackend.StartAsync(app =>
        {
            Backends.Map(app, "/die");
            app.MapGet("/die/now", async (HttpContext c) =>
            {
                c.Response.ContentLength = 1000;
                await c.Response.WriteAsync("only part");
                await c.Response.Body.FlushAsync();
                c.Abort();
            });
        }, output);
        await using var router = await CliTestRouter.StartAsync(output);
        await using var connector = await TestConnector.StartAsync(router, "die", backend, output, TestConnector.V3Only, sockets: 1);

        await Assert.ThrowsAnyAsync<Exception>(() => router.Client.GetByteArrayAsync("/die/now")).DefaultTimeout();
        Assert.StartsWith("method=GET", await router.Client.GetStringAsync("/die/method").DefaultTimeout());
    }

    [Fact]
    public async Task Losing_a_socket_fails_only_its_streams_and_the_window_refills()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var arrived = 0;
        var allArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await TestBackend.StartAsync(app => app.MapGet("/lose/wait", async () =>
        {
            if (Interlocked.Increment(ref arrived) == 4)
            {
                allArrived.TrySetResult();
            }

            await gate.Task;
            return "done";
        }), output);
        await using var router = await CliTestRouter.StartAsync(output);
        await using var connector = await TestConnector.StartAsync(router, "lose", backend, output, TestConnector.V3Only, sockets: 2);
        var pool = router.V3Pool("lose")!;
        Assert.Equal(2, pool.Count);

        // Round-robin puts two requests on each socket.
        var requests = Enumerable.Range(0, 4).Select(_ => router.Client.GetAsync("/lose/wait")).ToList();
        await allArrived.Task.DefaultTimeout();
        var victim = pool.Next()!;
        Assert.Equal(2, victim.InFlight);
        victim.Abort();

        await Eventually.True(() => requests.Count(r => r.IsCompleted) == 2, "the lost socket's two requests to fail");
        gate.SetResult();
        var statuses = new List<HttpStatusCode>();
        foreach (var r in requests)
        {
            using var response = await r.DefaultTimeout();
            statuses.Add(response.StatusCode);
        }

        Assert.Equal(2, statuses.Count(s => s == HttpStatusCode.BadGateway));
        Assert.Equal(2, statuses.Count(s => s == HttpStatusCode.OK));
        await Eventually.True(() => pool.Count == 2, "the connector to replace the lost socket");
        await connector.WaitForIdleSocketsAsync(2, TestTimeouts.Token()).DefaultTimeout();
    }

    [Fact]
    public async Task A_v1_and_a_v3_connector_on_one_route_both_serve()
    {
        await using var backendA = await TestBackend.StartAsync(app => app.MapGet("/mixed/who", () => "v1"), output);
        await using var backendB = await TestBackend.StartAsync(app => app.MapGet("/mixed/who", () => "v3"), output);
        await using var router = await CliTestRouter.StartAsync(output);
        await using var v1 = await TestConnector.StartAsync(router, "mixed", backendA, output, TestConnector.V1Only, sockets: 3, name: "v1");
        await using var v3 = await TestConnector.StartAsync(router, "mixed", backendB, output, TestConnector.V3Only, sockets: 1, name: "v3");
        Assert.Equal("cranker_1.0", v1.Routers[0].Protocol);
        Assert.Equal("cranker_3.0", v3.Routers[0].Protocol);

        var seen = new HashSet<string>();
        for (var i = 0; i < 40 && seen.Count < 2; i++)
        {
            seen.Add(await router.Client.GetStringAsync("/mixed/who").DefaultTimeout());
            await v1.WaitForIdleSocketsAsync(3, TestTimeouts.Token()).DefaultTimeout();
        }

        Assert.Equal(["v1", "v3"], seen.Order().ToArray());
    }

    [Fact]
    public async Task A_v3_connector_with_a_domain_receives_only_that_hosts_requests()
    {
        await using var special = await TestBackend.StartAsync(app => app.MapGet("/dom/who", () => "special"), output);
        await using var general = await TestBackend.StartAsync(app => app.MapGet("/dom/who", () => "general"), output);
        await using var router = await CliTestRouter.StartAsync(output);
        await using var a = await TestConnector.StartAsync(router, "dom", special, output, o =>
        {
            TestConnector.V3Only(o);
            o.Domain = "api.example.test";
        }, sockets: 1, name: "special");
        await using var b = await TestConnector.StartAsync(router, "dom", general, output, TestConnector.V3Only, sockets: 1, name: "general");

        for (var i = 0; i < 6; i++)
        {
            using var forDomain = new HttpRequestMessage(HttpMethod.Get, "/dom/who");
            forDomain.Headers.Host = "api.example.test";
            using var r1 = await router.Client.SendAsync(forDomain).DefaultTimeout();
            Assert.Equal("special", await r1.Content.ReadAsStringAsync().DefaultTimeout());

            using var other = new HttpRequestMessage(HttpMethod.Get, "/dom/who");
            other.Headers.Host = "other.example.test";
            using var r2 = await router.Client.SendAsync(other).DefaultTimeout();
            Assert.Equal("general", await r2.Content.ReadAsStringAsync().DefaultTimeout());
        }
    }

    [Fact]
    public async Task A_v3_preferring_connector_falls_back_to_v1_against_a_1_0_only_router()
    {
        await using var backend = await TestBackend.StartAsync(app => Backends.Map(app, "/old"), output);
        await using var router = await CliTestRouter.StartAsync(output, o =>
        {
            o.Protocols.Clear();
            o.Protocols.Add("cranker_1.0");
        });
        await using var connector = await TestConnector.StartAsync(router, "old", backend, output);

        Assert.Equal("cranker_1.0", connector.Routers[0].Protocol);
        Assert.StartsWith("method=GET", await router.Client.GetStringAsync("/old/method").DefaultTimeout());
        Assert.Null(router.V3Pool("old"));
    }

    [Fact]
    public async Task A_3_0_only_router_serves_v3_connectors()
    {
        await using var backend = await TestBackend.StartAsync(app => Backends.Map(app, "/new"), output);
        await using var router = await CliTestRouter.StartAsync(output, o =>
        {
            o.Protocols.Clear();
            o.Protocols.Add("cranker_3.0");
        });
        await using var connector = await TestConnector.StartAsync(router, "new", backend, output);

        Assert.Equal("cranker_3.0", connector.Routers[0].Protocol);
        Assert.StartsWith("method=GET", await router.Client.GetStringAsync("/new/method").DefaultTimeout());
    }
}

/// <summary>
/// Measures this process's memory, so it runs in the collection that runs alone (with <see cref="LargeBodyTests"/>):
/// other tests' allocations must not count against it.
/// </summary>
[Collection(nameof(LargeBodyTests))]
public sealed class V3IsolationTests(ITestOutputHelper output)
{
    private const int TenMiB = 10 * 1024 * 1024;

    [Fact]
    public async Task A_client_that_reads_nothing_stalls_only_its_own_stream_and_memory_stays_bounded()
    {
        const long big = 256L * 1024 * 1024;
        await using var backend = await TestBackend.StartAsync(app => Backends.Map(app, "/iso"), output);
        await using var router = await CliTestRouter.StartAsync(output);
        await using var connector = await TestConnector.StartAsync(router, "iso", backend, output, TestConnector.V3Only, sockets: 1);
        GC.Collect();
        var before = Process.GetCurrentProcess().WorkingSet64;

        // This client takes the headers of a 256 MiB download and then reads nothing.
        using var stalled = await router.Client.GetAsync($"/iso/download?size={big}&chunked=false", HttpCompletionOption.ResponseHeadersRead).DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, stalled.StatusCode);

        // Meanwhile other streams on the same socket go through, large ones included.
        var scratch = new byte[64 * 1024];
        for (var i = 0; i < 5; i++)
        {
            using var other = await router.Client.GetAsync($"/iso/download?size={TenMiB}&chunked=true", HttpCompletionOption.ResponseHeadersRead).DefaultTimeout();
            await using var stream = await other.Content.ReadAsStreamAsync().DefaultTimeout();
            long read = 0;
            int got;
            while ((got = await stream.ReadAsync(scratch).AsTask().DefaultTimeout()) > 0)
            {
                read += got;
            }

            Assert.Equal(TenMiB, read);
        }

        var growth = Process.GetCurrentProcess().WorkingSet64 - before;
        output.WriteLine($"working-set growth with a stalled 256 MiB stream: {growth / (1024 * 1024)} MiB");
        Assert.True(growth < 64L * 1024 * 1024, $"grew by {growth / (1024 * 1024)} MiB");

        // The stalled stream resumes where it stopped and completes byte-exact.
        await using var body = await stalled.Content.ReadAsStreamAsync().DefaultTimeout();
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[64 * 1024];
        var expected = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long total = 0;
        int n;
        while ((n = await body.ReadAsync(buffer).AsTask().DefaultTimeout()) > 0)
        {
            sha.AppendData(buffer, 0, n);
            var pattern = new byte[n];
            Backends.FillPattern(pattern, total);
            expected.AppendData(pattern);
            total += n;
        }

        Assert.Equal(big, total);
        Assert.Equal(expected.GetHashAndReset(), sha.GetHashAndReset());
    }
}
