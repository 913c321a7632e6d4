using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Connector.AspNetCore.Tests;

public sealed record Item(string Name, int Count);

/// <summary>A minimal-API app with no listening port, served through a real router over both protocol versions.</summary>
public sealed class HostingTests(ITestOutputHelper output)
{
    private const int Chunk = 64 * 1024;
    private const int BigLength = 20 * 1024 * 1024;

    [Theory]
    [InlineData("cranker_1.0")]
    [InlineData("cranker_3.0")]
    public async Task A_get_reaches_a_minimal_api_endpoint_with_route_values_and_query(string protocol)
    {
        await using var host = await HostedApp.StartAsync(output, protocol, app =>
        {
            var group = app.MapGroup("/app");
            group.MapGet("/greet/{name}", (string name, string? greeting, HttpContext context) =>
            {
                context.Response.Headers["x-served-by"] = "minimal-api";
                context.Response.Headers.Append("x-multi", "one");
                context.Response.Headers.Append("x-multi", "two");
                var raw = context.Features.Get<IHttpRequestFeature>()!.RawTarget;
                return Results.Text($"{greeting ?? "hello"}, {name}! path={context.Request.Path.Value} query={context.Request.QueryString.Value} raw={raw} method={context.Request.Method} protocol={context.Request.Protocol}", "text/plain; charset=utf-8");
            });
        });

        using var request = new HttpRequestMessage(HttpMethod.Get, "/app/greet/w%C3%B6rld?greeting=hi&x=a%20b");
        request.Headers.Add("x-twice", ["a", "b"]);
        using var response = await host.Client.SendAsync(request).DefaultTimeout();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("minimal-api", response.Headers.GetValues("x-served-by").Single());
        Assert.Equal(["one", "two"], response.Headers.GetValues("x-multi").SelectMany(v => v.Split(", ")));
        Assert.Equal("text/plain; charset=utf-8", response.Content.Headers.ContentType!.ToString());
        Assert.Equal(
            "hi, wörld! path=/app/greet/wörld query=?greeting=hi&x=a%20b raw=/app/greet/w%C3%B6rld?greeting=hi&x=a%20b method=GET protocol=HTTP/1.1",
            await response.Content.ReadAsStringAsync().DefaultTimeout());
    }

    [Theory]
    [InlineData("cranker_1.0")]
    [InlineData("cranker_3.0")]
    public async Task Request_headers_with_several_values_reach_the_app_as_one_StringValues(string protocol)
    {
        await using var host = await HostedApp.StartAsync(output, protocol, app =>
            app.MapGet("/app/headers", (HttpContext context) => string.Join("|", context.Request.Headers["x-twice"].ToArray())));

        using var request = new HttpRequestMessage(HttpMethod.Get, "/app/headers");
        request.Headers.TryAddWithoutValidation("x-twice", ["a", "b"]);
        using var response = await host.Client.SendAsync(request).DefaultTimeout();

        // HttpClient folds them into one line; either way the app sees both values.
        var seen = await response.Content.ReadAsStringAsync().DefaultTimeout();
        Assert.Equal(["a", "b"], seen.Split('|').SelectMany(v => v.Split(", ")));
    }

    [Theory]
    [InlineData("cranker_1.0")]
    [InlineData("cranker_3.0")]
    public async Task A_post_with_a_1_MiB_body_is_read_by_the_app(string protocol)
    {
        await using var host = await HostedApp.StartAsync(output, protocol, app =>
        {
            app.MapPost("/app/upload", async (HttpRequest request) =>
            {
                using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var buffer = new byte[8192];
                long total = 0;
                int n;
                while ((n = await request.Body.ReadAsync(buffer, request.HttpContext.RequestAborted)) > 0)
                {
                    sha.AppendData(buffer, 0, n);
                    total += n;
                }

                return Results.Text($"{total} {Convert.ToHexString(sha.GetHashAndReset())} {request.ContentLength}");
            });
        });

        var data = RandomNumberGenerator.GetBytes(1024 * 1024);
        using var response = await host.Client.PostAsync("/app/upload", new ByteArrayContent(data)).DefaultTimeout();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal($"{data.Length} {Convert.ToHexString(SHA256.HashData(data))} {data.Length}", await response.Content.ReadAsStringAsync().DefaultTimeout());
    }

    [Theory]
    [InlineData("cranker_1.0")]
    [InlineData("cranker_3.0")]
    public async Task A_json_body_is_bound_by_a_minimal_api_parameter(string protocol)
    {
        await using var host = await HostedApp.StartAsync(output, protocol, app =>
            app.MapPost("/app/items", (Item item) => Results.Created($"/app/items/{item.Name}", item)));

        using var response = await host.Client.PostAsync("/app/items", new StringContent("""{"name":"kettle","count":3}""", Encoding.UTF8, "application/json")).DefaultTimeout();

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("/app/items/kettle", response.Headers.Location!.OriginalString);
        Assert.Equal("""{"name":"kettle","count":3}""", await response.Content.ReadAsStringAsync().DefaultTimeout());
    }

    [Theory]
    [InlineData("cranker_1.0")]
    [InlineData("cranker_3.0")]
    public async Task An_unmapped_path_is_the_apps_own_404(string protocol)
    {
        await using var host = await HostedApp.StartAsync(output, protocol, app => app.MapGet("/app/exists", () => "here"));

        using var response = await host.Client.GetAsync("/app/does/not/exist").DefaultTimeout();

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(0, response.Content.Headers.ContentLength);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync().DefaultTimeout()); // not the router's HTML page
    }

    [Theory]
    [InlineData("cranker_1.0")]
    [InlineData("cranker_3.0")]
    public async Task The_connection_comes_from_the_forwarded_header(string protocol)
    {
        await using var host = await HostedApp.StartAsync(output, protocol, app =>
            app.MapGet("/app/who", (HttpContext c) =>
                $"{c.Connection.RemoteIpAddress}|{c.Request.Scheme}|{c.Request.Host}|{c.Connection.LocalIpAddress}|{c.Connection.Id}|{c.TraceIdentifier}|{c.Request.IsHttps}"));

        var first = (await host.Client.GetStringAsync("/app/who").DefaultTimeout()).Split('|');
        var second = (await host.Client.GetStringAsync("/app/who").DefaultTimeout()).Split('|');

        Assert.Equal("127.0.0.1", first[0]);
        Assert.Equal("http", first[1]);
        Assert.Equal(host.Router.ClientUri.Authority, first[2]);
        Assert.Equal("127.0.0.1", first[3]); // by=: the router address the client reached
        Assert.NotEmpty(first[4]);
        Assert.NotEqual(first[4], second[4]);
        Assert.StartsWith(first[4] + ":", first[5], StringComparison.Ordinal);
        Assert.Equal("False", first[6]);
    }

    [Theory]
    [InlineData("cranker_1.0")]
    [InlineData("cranker_3.0")]
    public async Task A_client_that_leaves_mid_response_fires_RequestAborted(string protocol)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var finished = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await HostedApp.StartAsync(output, protocol, app =>
            app.MapGet("/app/stream", async (HttpContext c) =>
            {
                try
                {
                    using var registration = c.RequestAborted.Register(() => aborted.TrySetResult());
                    c.Response.ContentType = "text/plain";
                    await c.Response.WriteAsync("first\n");
                    await c.Response.Body.FlushAsync();
                    started.TrySetResult();
                    await aborted.Task;

                    // Writes after the client left are dropped, as Kestrel drops them.
                    await c.Response.WriteAsync("nobody reads this\n");
                    finished.TrySetResult(null);
                }
                catch (Exception ex)
                {
                    finished.TrySetResult(ex);
                }
            }));

        // No draining on dispose: the connection closes at once.
        using var client = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 }) { BaseAddress = host.Router.ClientUri };
        using (var response = await client.GetAsync("/app/stream", HttpCompletionOption.ResponseHeadersRead).DefaultTimeout())
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync().DefaultTimeout());
            Assert.Equal("first", await reader.ReadLineAsync().DefaultTimeout());
            await started.Task.DefaultTimeout();
            Assert.False(aborted.Task.IsCompleted);
        }

        await aborted.Task.DefaultTimeout();
        Assert.Null(await finished.Task.DefaultTimeout());
    }

    [Theory]
    [InlineData("cranker_1.0")]
    [InlineData("cranker_3.0")]
    public async Task A_20_MiB_streamed_response_arrives_byte_exact_and_the_writes_are_paced(string protocol)
    {
        var writer = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var abortedSeen = false;
        await using var host = await HostedApp.StartAsync(output, protocol, app =>
            app.MapGet("/app/big", async (HttpContext c) =>
            {
                using var registration = c.RequestAborted.Register(() => abortedSeen = true);
                c.Response.ContentType = "application/octet-stream";
                c.Response.ContentLength = BigLength;
                var buffer = new byte[Chunk];
                try
                {
                    for (var offset = 0; offset < BigLength; offset += Chunk)
                    {
                        FillPattern(buffer, offset);

                        // Both ways of writing a body: the stream, and the pipe writer.
                        if ((offset / Chunk) % 2 == 0)
                        {
                            await c.Response.Body.WriteAsync(buffer, c.RequestAborted);
                        }
                        else
                        {
                            await c.Response.BodyWriter.WriteAsync(buffer, c.RequestAborted);
                        }
                    }

                    writer.TrySetResult(null);
                }
                catch (Exception ex)
                {
                    writer.TrySetResult(ex);
                    throw;
                }
            }));

        using var response = await host.Client.GetAsync("/app/big", HttpCompletionOption.ResponseHeadersRead).DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(BigLength, response.Content.Headers.ContentLength);
        await using var stream = await response.Content.ReadAsStreamAsync().DefaultTimeout();
        var buffer = new byte[Chunk];
        var expected = new byte[Chunk];
        long total = 0;
        int n;
        while ((n = await stream.ReadAsync(buffer).AsTask().DefaultTimeout()) > 0)
        {
            FillPattern(expected.AsSpan(0, n), total);
            Assert.True(buffer.AsSpan(0, n).SequenceEqual(expected.AsSpan(0, n)), $"bytes differ in the {n} bytes from offset {total}");
            total += n;
        }

        Assert.Equal(BigLength, total);
        Assert.Null(await writer.Task.DefaultTimeout()); // never closed for overrunning the channel's queue
        Assert.False(abortedSeen);
    }

    [Theory]
    [InlineData("cranker_1.0")]
    [InlineData("cranker_3.0")]
    public async Task An_exception_before_the_response_starts_gives_500(string protocol)
    {
        await using var host = await HostedApp.StartAsync(output, protocol, app =>
            app.MapGet("/app/throw", string (HttpContext c) =>
            {
                c.Response.Headers["x-not-sent"] = "dropped";
                throw new InvalidOperationException("boom");
            }));

        using var response = await host.Client.GetAsync("/app/throw").DefaultTimeout();

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.False(response.Headers.Contains("x-not-sent"));
        Assert.Empty(await response.Content.ReadAsByteArrayAsync().DefaultTimeout());
    }

    [Theory]
    [InlineData("cranker_1.0")]
    [InlineData("cranker_3.0")]
    public async Task An_exception_after_the_response_started_aborts_it(string protocol)
    {
        await using var host = await HostedApp.StartAsync(output, protocol, app =>
            app.MapGet("/app/late", async (HttpContext c) =>
            {
                await c.Response.WriteAsync("partial");
                await c.Response.Body.FlushAsync();
                throw new InvalidOperationException("boom");
            }));

        await AssertAbortedAsync(host.Client, "/app/late");
    }

    [Theory]
    [InlineData("cranker_1.0")]
    [InlineData("cranker_3.0")]
    public async Task HttpContext_Abort_after_the_response_started_aborts_it(string protocol)
    {
        await using var host = await HostedApp.StartAsync(output, protocol, app =>
            app.MapGet("/app/abort", async (HttpContext c) =>
            {
                await c.Response.WriteAsync("partial");
                await c.Response.Body.FlushAsync();
                c.Abort();
                Assert.True(c.RequestAborted.IsCancellationRequested);
            }));

        await AssertAbortedAsync(host.Client, "/app/abort");
    }

    [Theory]
    [InlineData("cranker_1.0")]
    [InlineData("cranker_3.0")]
    public async Task HttpContext_Abort_before_the_response_started_gets_the_routers_502_not_a_500(string protocol)
    {
        var reached = 0;
        await using var host = await HostedApp.StartAsync(output, protocol, app =>
            app.MapGet("/app/abort-early", (HttpContext c) =>
            {
                Interlocked.Increment(ref reached);
                c.Abort();
                return Task.CompletedTask;
            }));

        // As a reset Kestrel connection: no status from the application at all, so the router's own failure page.
        using var response = await host.Client.GetAsync("/app/abort-early").DefaultTimeout();
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal(1, reached);
    }

    [Theory]
    [InlineData("cranker_1.0")]
    [InlineData("cranker_3.0")]
    public async Task OnStarting_runs_before_the_head_and_OnCompleted_after_the_response(string protocol)
    {
        var completed = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await HostedApp.StartAsync(output, protocol, app =>
            app.MapGet("/app/callbacks", async (HttpContext c) =>
            {
                c.Response.OnStarting(() =>
                {
                    c.Response.Headers["x-on-starting"] = "yes";
                    return Task.CompletedTask;
                });
                c.Response.OnCompleted(() =>
                {
                    completed.TrySetResult(c.Response.HasStarted);
                    return Task.CompletedTask;
                });
                await c.Response.WriteAsync("body");
                Assert.True(c.Response.HasStarted);
                Assert.Throws<InvalidOperationException>(() => c.Response.StatusCode = 201);
            }));

        using var response = await host.Client.GetAsync("/app/callbacks").DefaultTimeout();

        Assert.Equal("yes", response.Headers.GetValues("x-on-starting").Single());
        Assert.Equal("body", await response.Content.ReadAsStringAsync().DefaultTimeout());
        Assert.True(await completed.Task.DefaultTimeout());
    }

    [Theory]
    [InlineData("cranker_1.0")]
    [InlineData("cranker_3.0")]
    public async Task A_head_request_gets_the_head_without_the_body(string protocol)
    {
        await using var host = await HostedApp.StartAsync(output, protocol, app =>
            app.MapMethods("/app/doc", ["GET", "HEAD"], async (HttpContext c) =>
            {
                c.Response.ContentType = "text/plain";
                c.Response.ContentLength = 5;
                await c.Response.WriteAsync("hello");
            }));

        using var head = await host.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/app/doc")).DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(5, head.Content.Headers.ContentLength);
        Assert.Empty(await head.Content.ReadAsByteArrayAsync().DefaultTimeout());

        // The connection is still in step: the next response is whole.
        Assert.Equal("hello", await host.Client.GetStringAsync("/app/doc").DefaultTimeout());
    }

    [Fact]
    public async Task Synchronous_writes_are_refused_unless_the_app_allows_them()
    {
        await using var host = await HostedApp.StartAsync(output, "cranker_3.0", app =>
            app.MapGet("/app/sync", (HttpContext c) =>
            {
                var bytes = Encoding.UTF8.GetBytes("sync ");
                var refused = Assert.Throws<InvalidOperationException>(() => c.Response.Body.Write(bytes));
                Assert.Contains("Synchronous operations are disallowed", refused.Message, StringComparison.Ordinal);
                c.Features.Get<IHttpBodyControlFeature>()!.AllowSynchronousIO = true;
                c.Response.Body.Write(bytes);
                c.Response.Body.Write(bytes);
            }));

        Assert.Equal("sync sync ", await host.Client.GetStringAsync("/app/sync").DefaultTimeout());
    }

    [Fact]
    public async Task The_app_listens_on_no_address_and_exposes_its_connector()
    {
        await using var host = await HostedApp.StartAsync(output, "cranker_3.0", app => app.MapGet("/app/x", () => "x"));

        var server = host.App.Services.GetRequiredService<IServer>();
        Assert.Empty(server.Features.Get<IServerAddressesFeature>()!.Addresses);
        Assert.Empty(host.App.Urls);
        Assert.Same(host.Connector, server.Features.Get<IPutshConnectorFeature>()!.Connector);
        Assert.Equal(HostedApp.Sockets, host.Connector.Routers.Single().IdleSockets);
    }

    /// <summary>
    /// The client must not see a complete response. The router may pass the head on before the failure or fail
    /// before it wrote anything, depending on timing: either is an abort.
    /// </summary>
    private static async Task AssertAbortedAsync(HttpClient client, string path)
    {
        var error = await Record.ExceptionAsync(async () =>
        {
            using var response = await client.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await response.Content.ReadAsByteArrayAsync();
        }).DefaultTimeout();
        Assert.True(error is HttpRequestException or IOException, $"expected a failed response, got {error?.ToString() ?? "a complete one"}");
    }

    private static void FillPattern(Span<byte> span, long offset)
    {
        for (var i = 0; i < span.Length; i++)
        {
            var p = offset + i;
            span[i] = (byte)((p * 31) + (p >> 8));
        }
    }
}
