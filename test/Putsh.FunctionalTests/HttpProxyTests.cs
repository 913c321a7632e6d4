using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Putsh.Tests.Common;

namespace Putsh.FunctionalTests;

/// <summary>Requests of every common shape through a real router and connector to a real backend, over cranker_1.0.</summary>
public sealed class HttpProxyTestsV1(V1ProxyFixture fixture) : HttpProxyTests(fixture), IClassFixture<V1ProxyFixture>;

/// <summary>The same requests over cranker_3.0.</summary>
public sealed class HttpProxyTestsV3(V3ProxyFixture fixture) : HttpProxyTests(fixture), IClassFixture<V3ProxyFixture>;

/// <summary>Requests of every common shape through a real router and connector to a real backend.</summary>
public abstract class HttpProxyTests(ProxyFixture fixture)
{
    private HttpClient Client => fixture.Router.Client;

    [Theory]
    [InlineData("GET")]
    [InlineData("POST")]
    [InlineData("PUT")]
    [InlineData("DELETE")]
    [InlineData("PATCH")]
    [InlineData("OPTIONS")]
    public async Task Methods_reach_the_backend_with_their_bodies(string method)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), "/app/method");
        if (method is "POST" or "PUT" or "PATCH")
        {
            request.Content = new StringContent("payload-" + method);
        }

        using var response = await Client.SendAsync(request).DefaultTimeout();
        var body = await response.Content.ReadAsStringAsync().DefaultTimeout();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(method, response.Headers.GetValues("x-method").Single());
        var expectedBody = method is "POST" or "PUT" or "PATCH" ? "payload-" + method : "";
        Assert.Equal($"method={method};body={expectedBody}", body);
    }

    [Fact]
    public async Task Head_returns_headers_without_a_body()
    {
        using var request = new HttpRequestMessage(HttpMethod.Head, "/app/method");
        using var response = await Client.SendAsync(request).DefaultTimeout();
        var body = await response.Content.ReadAsByteArrayAsync().DefaultTimeout();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("HEAD", response.Headers.GetValues("x-method").Single());
        Assert.Empty(body);
    }

    [Fact]
    public async Task No_content_is_passed_through()
    {
        using var response = await Client.GetAsync("/app/nocontent").DefaultTimeout();
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync().DefaultTimeout());
    }

    [Theory]
    [InlineData("/app/raw?a=1&a=2&a=3")]
    [InlineData("/app/raw?q=hello%20world&sym=%26%3D%2B&utf=%C3%A9")]
    [InlineData("/app/raw?empty=&flag&x=%2Fslash")]
    public async Task Percent_encoded_and_repeated_query_parameters_arrive_exactly(string target)
    {
        var body = await Client.GetStringAsync(target).DefaultTimeout();
        Assert.Equal(target, body);
    }

    [Theory]
    [InlineData("/app/raw/~user/profile")]
    [InlineData("/app/raw/a%7Eb/%7euser?sig=a~b%7E&x=%2f")]
    [InlineData("/app/raw/caf%C3%A9/%41BC")]
    public async Task The_path_and_query_reach_the_backend_exactly_as_the_client_sent_them(string target)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(fixture.Router.ClientUri + target.TrimStart('/'), new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true }));
        using var response = await Client.SendAsync(request).DefaultTimeout();
        Assert.Equal(target, await response.Content.ReadAsStringAsync().DefaultTimeout());
    }

    [Theory]
    [InlineData("keep-alive, x-hop")]
    [InlineData("close, x-hop")]
    [InlineData("x-hop, keep-alive")]
    [InlineData("Keep-Alive,X-Hop")]
    public async Task A_header_named_in_Connection_never_reaches_the_backend_whatever_else_Connection_holds(string connection)
    {
        // Three times over one client connection: Kestrel may reuse a header value it saw on the previous request.
        for (var i = 0; i < 3; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/app/headers");
            request.Headers.TryAddWithoutValidation("Connection", connection);
            request.Headers.Add("x-hop", "1");
            request.Headers.Add("x-keep", "passes");
            using var response = await Client.SendAsync(request).DefaultTimeout();
            var lines = (await response.Content.ReadAsStringAsync().DefaultTimeout()).Split('\n');
            Assert.Contains("x-keep: passes", lines);
            Assert.DoesNotContain(lines, l => l.StartsWith("x-hop", StringComparison.OrdinalIgnoreCase));
        }

        // A request with no Connection header after them loses nothing.
        using var plain = new HttpRequestMessage(HttpMethod.Get, "/app/headers");
        plain.Headers.Add("x-hop", "kept this time");
        using var plainResponse = await Client.SendAsync(plain).DefaultTimeout();
        Assert.Contains("x-hop: kept this time", (await plainResponse.Content.ReadAsStringAsync().DefaultTimeout()).Split('\n'));
    }

    [Fact]
    public async Task An_18_KB_header_crosses_in_both_directions()
    {
        var big = new string('q', Backends.BigHeaderLength);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/app/headers");
        request.Headers.Add("x-big-request", big);
        using var response = await Client.SendAsync(request).DefaultTimeout();
        var body = await response.Content.ReadAsStringAsync().DefaultTimeout();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("x-big-request: " + big, body.Split('\n'));
        Assert.Equal(new string('r', Backends.BigHeaderLength), response.Headers.GetValues("x-big").Single());
    }

    [Fact]
    public async Task Request_headers_follow_the_router_rules()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/app/headers");
        request.Headers.Add("Connection", "x-hop");
        request.Headers.Add("x-hop", "must not pass");
        request.Headers.Add("Keep-Alive", "timeout=5");
        request.Headers.Add("x-keep", "passes");
        request.Headers.Add("Via", "1.1 earlier-proxy");
        request.Headers.Add("Forwarded", "for=10.1.2.3;proto=https");
        using var response = await Client.SendAsync(request).DefaultTimeout();
        var lines = (await response.Content.ReadAsStringAsync().DefaultTimeout()).Split('\n');

        Assert.Contains("x-keep: passes", lines);
        Assert.DoesNotContain(lines, l => l.StartsWith("x-hop", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.StartsWith("keep-alive", StringComparison.Ordinal));
        Assert.Single(lines, l => l.StartsWith("via:", StringComparison.Ordinal));
        Assert.Contains("via: 1.1 earlier-proxy, HTTP/1.1 putsh", lines);
        // The router sends one forwarded line per element; the connector's HTTP client joins repeated headers with
        // commas, which RFC 7239 treats as the same list.
        var forwarded = lines.Where(l => l.StartsWith("forwarded:", StringComparison.Ordinal))
            .SelectMany(l => l["forwarded: ".Length..].Split(", "))
            .ToList();
        Assert.Equal(2, forwarded.Count);
        Assert.Equal("for=10.1.2.3;proto=https", forwarded[0]);
        Assert.Equal($"by=127.0.0.1;for=127.0.0.1;host=\"127.0.0.1:{fixture.Router.ClientUri.Port}\";proto=http", forwarded[1]);
        Assert.Contains($"host: 127.0.0.1:{fixture.Router.ClientUri.Port}", lines);
    }

    [Fact]
    public async Task Cookies_are_merged_into_one_line_for_the_backend()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/app/headers");
        request.Headers.TryAddWithoutValidation("Cookie", "a=1");
        request.Headers.TryAddWithoutValidation("Cookie", "b=2");
        using var response = await Client.SendAsync(request).DefaultTimeout();
        var lines = (await response.Content.ReadAsStringAsync().DefaultTimeout()).Split('\n');

        var cookies = lines.Where(l => l.StartsWith("cookie:", StringComparison.Ordinal)).ToList();
        Assert.Single(cookies);
        Assert.Equal("cookie: a=1; b=2", cookies[0]);
    }

    [Fact]
    public async Task Two_set_cookie_headers_stay_separate_and_server_is_dropped()
    {
        using var response = await Client.GetAsync("/app/cookies").DefaultTimeout();

        Assert.Equal(["a=1; Path=/", "b=2; Path=/; HttpOnly"], response.Headers.GetValues("Set-Cookie").ToArray());
        Assert.False(response.Headers.Contains("Server"));
        Assert.Single(response.Headers.GetValues("Date"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Ten_MiB_download_is_byte_exact(bool chunked)
    {
        const int size = 10 * 1024 * 1024;
        using var response = await Client.GetAsync($"/app/download?size={size}&chunked={chunked}", HttpCompletionOption.ResponseHeadersRead).DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(!chunked, response.Content.Headers.NonValidated.Contains("Content-Length"));
        Assert.Equal(chunked, response.Headers.TransferEncodingChunked == true);
        var data = await response.Content.ReadAsByteArrayAsync().DefaultTimeout();

        Assert.Equal(size, data.Length);
        Assert.Equal(Backends.Sha256(Backends.Pattern(size)), Backends.Sha256(data));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Ten_MiB_upload_is_byte_exact(bool chunked)
    {
        var data = RandomNumberGenerator.GetBytes(10 * 1024 * 1024);
        HttpContent content = chunked ? new StreamContent(new MemoryStream(data)) : new ByteArrayContent(data);
        if (chunked)
        {
            content.Headers.ContentLength = null;
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, "/app/upload") { Content = content };
        request.Headers.TransferEncodingChunked = chunked;
        using var response = await Client.SendAsync(request).DefaultTimeout();
        var body = await response.Content.ReadAsStringAsync().DefaultTimeout();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var parts = body.Split(' ');
        Assert.Equal(data.Length.ToString(), parts[0]);
        Assert.Equal(Backends.Sha256(data), parts[1]);
        Assert.Equal(chunked ? "cl=none" : $"cl={data.Length}", parts[2]);
        Assert.Equal(chunked ? "te=chunked" : "te=", parts[3]);
    }

    [Fact]
    public async Task Unknown_route_is_404_with_an_html_page()
    {
        using var response = await Client.GetAsync("/nothing-here/x").DefaultTimeout();
        var body = await response.Content.ReadAsStringAsync().DefaultTimeout();

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("text/html; charset=utf-8", response.Content.Headers.ContentType!.ToString().Replace(";charset", "; charset", StringComparison.Ordinal));
        Assert.Contains("<h1>404 Not Found</h1>", body);
    }

    [Fact]
    public async Task Trace_is_405()
    {
        using var response = await Client.SendAsync(new HttpRequestMessage(HttpMethod.Trace, "/app/method")).DefaultTimeout();
        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
    }

    [Fact]
    public async Task Expect_100_continue_is_answered_by_the_router()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/app/method") { Content = new StringContent("after-continue") };
        request.Headers.ExpectContinue = true;
        using var response = await Client.SendAsync(request).DefaultTimeout();
        Assert.Equal("method=POST;body=after-continue", await response.Content.ReadAsStringAsync().DefaultTimeout());
    }

    [Fact]
    public async Task Registration_listener_does_not_proxy()
    {
        var registration = new UriBuilder(fixture.Router.RegisterUri) { Scheme = "http" }.Uri;
        using var client = new HttpClient();
        using var response = await client.GetAsync(new Uri(registration, "/app/method")).DefaultTimeout();
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);

        using var notUpgrade = await client.GetAsync(new Uri(registration, "/register/")).DefaultTimeout();
        Assert.Equal(HttpStatusCode.BadRequest, notUpgrade.StatusCode);
    }

    [Fact]
    public async Task Http2_prior_knowledge_client_is_proxied()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/app/method")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new StringContent("over-h2"),
        };
        using var response = await Client.SendAsync(request).DefaultTimeout();
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal("method=POST;body=over-h2", await response.Content.ReadAsStringAsync().DefaultTimeout());
    }

    [Fact]
    public async Task Accept_encoding_reaches_the_backend_and_gzip_comes_back_undecoded()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/app/headers");
        request.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("gzip"));
        using var response = await Client.SendAsync(request).DefaultTimeout();
        var lines = (await response.Content.ReadAsStringAsync().DefaultTimeout()).Split('\n');
        Assert.Contains("accept-encoding: gzip", lines);

        using var gzip = await Client.GetAsync("/app/gzip").DefaultTimeout();
        Assert.Equal("gzip", gzip.Content.Headers.ContentEncoding.Single());
        Assert.Equal(Backends.Gzipped, await gzip.Content.ReadAsByteArrayAsync().DefaultTimeout());
    }

    [Fact]
    public async Task Redirects_are_passed_to_the_client_not_followed()
    {
        using var response = await Client.GetAsync("/app/redirect").DefaultTimeout();
        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        Assert.Equal("/elsewhere", response.Headers.Location!.OriginalString);
    }
}
