using System.Net;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Putsh.Benchmarks.Legacy;
using Putsh.Connector.Forwarding;
using Putsh.Protocol.Headers;
using Putsh.Router;
using Putsh.Router.Proxy;

namespace Putsh.Benchmarks;

/// <summary>
/// The header rules of §2.3 and §2.5: the request head the router builds from a browser-like request, the hop-by-hop
/// filter, the router's <c>forwarded</c> element, and on the connector side the response head built from the
/// backend's <see cref="HttpResponseMessage"/> and parsed back by the router. Each is measured against the code as
/// it was before (the baseline of its category).
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class HeaderRewritingBenchmarks
{
    // The browser request's 13 headers, in order: 4 are dropped (Connection, Keep-Alive, TE, and X-Debug-Token,
    // which Connection names), 3 are regenerated (X-Forwarded-*).
    private static readonly (string Name, string Value)[] s_requestHeaders =
    [
        ("Host", "shop.example.com"),
        ("Connection", "keep-alive, X-Debug-Token"),
        ("Keep-Alive", "timeout=5"),
        ("TE", "trailers"),
        ("X-Debug-Token", "d41d8cd98f00"),
        ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"),
        ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
        ("Accept-Encoding", "gzip, deflate, br"),
        ("Accept-Language", "en-GB,en;q=0.9"),
        ("Cookie", "session=7f3c2a9e41b84d0c; theme=dark"),
        ("X-Forwarded-For", "203.0.113.7"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "shop.example.com"),
    ];

    // A backend response's 12 headers: Connection and Keep-Alive are dropped.
    private static readonly (string Name, string Value)[] s_responseHeaders =
    [
        ("Date", "Tue, 03 Mar 2026 09:00:00 GMT"),
        ("Server", "Kestrel"),
        ("Cache-Control", "private, max-age=0"),
        ("Vary", "Accept-Encoding"),
        ("ETag", "\"5d8c72a5edda8\""),
        ("Set-Cookie", "session=7f3c2a9e41b84d0c; Path=/; HttpOnly; Secure"),
        ("Set-Cookie", "theme=dark; Path=/"),
        ("X-Request-ID", "0HN6R1JQ2K3L4:00000001"),
        ("Connection", "keep-alive"),
        ("Keep-Alive", "timeout=5"),
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Length", "18342"),
    ];

    private readonly RouterOptions _options = new();
    private readonly List<KeyValuePair<string, string>> _headers = new(16);
    private readonly char[] _chars = new char[256];
    private readonly IPAddress _local = IPAddress.Parse("10.0.0.4");
    private readonly IPAddress _remote = IPAddress.Parse("::ffff:198.51.100.23");
    private DefaultHttpContext _context = new();
    private HttpResponseMessage _response = new();

    [GlobalSetup]
    public void Setup()
    {
        _context = new DefaultHttpContext();
        var request = _context.Request;
        request.Method = "GET";
        request.Scheme = "https";
        request.Protocol = "HTTP/1.1";
        request.Path = "/shop/catalog/items";
        request.QueryString = new QueryString("?page=2&sort=price");
        _context.Features.Get<IHttpRequestFeature>()!.RawTarget = "/shop/catalog/items?page=2&sort=price";
        foreach (var (name, value) in s_requestHeaders)
        {
            request.Headers.Append(name, value);
        }

        _context.Connection.LocalIpAddress = _local;
        _context.Connection.RemoteIpAddress = _remote;

        // As SocketsHttpHandler fills it from the wire: raw strings, which NonValidated hands back as they are.
        _response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(new byte[18342]) };
        foreach (var (name, value) in s_responseHeaders)
        {
            if (!_response.Headers.TryAddWithoutValidation(name, value))
            {
                _response.Content.Headers.TryAddWithoutValidation(name, value);
            }
        }

        // Check the outputs before measuring them, and that "after" gives exactly what "before" gave.
        const string expectedRequest =
            "GET /shop/catalog/items?page=2&sort=price HTTP/1.1\nHost:shop.example.com\n"
            + "User-Agent:Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36\n"
            + "Accept:text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\nAccept-Encoding:gzip, deflate, br\n"
            + "Accept-Language:en-GB,en;q=0.9\ncookie:session=7f3c2a9e41b84d0c; theme=dark\nvia:HTTP/1.1 putsh\n"
            + "forwarded:for=203.0.113.7;host=shop.example.com;proto=https\n"
            + "forwarded:by=10.0.0.4;for=198.51.100.23;host=shop.example.com;proto=https\n\n";
        V3FrameBenchmarks.Check(BuildRequestHead() == expectedRequest, "request head:\n" + BuildRequestHead());
        V3FrameBenchmarks.Check(BuildRequestHeadLegacy() == expectedRequest, "request head (baseline)");
        V3FrameBenchmarks.Check(FilterHopByHop() == 9 && FilterHopByHopLegacy() == 9, "hop-by-hop filter");
        V3FrameBenchmarks.Check(FormatForwarded() == FormatForwardedLegacy().Length, "forwarded");
        var head = BuildResponseHead();
        V3FrameBenchmarks.Check(head == BuildResponseHeadLegacy(), "response head (baseline)");
        V3FrameBenchmarks.Check(
            head.StartsWith("HTTP/1.1 200 OK\ndate:Tue, 03 Mar 2026 09:00:00 GMT\n", StringComparison.Ordinal)
                && head.Contains("\ncontent-length:18342\n", StringComparison.Ordinal)
                && !head.Contains("keep-alive", StringComparison.OrdinalIgnoreCase),
            "response head:\n" + head);
        V3FrameBenchmarks.Check(ParseResponseHead() == 210 && ParseResponseHeadLegacy() == 210, "parse response head");
    }

    /// <summary>RequestHeadBuilder.Build for the browser request (the v3 form, no marker): the head text is the one allocation it needs.</summary>
    [Benchmark]
    [BenchmarkCategory("BuildRequestHead")]
    public string BuildRequestHead() => RequestHeadBuilder.Build(_context, _options, v1Marker: null);

    [Benchmark(Baseline = true)]
    [BenchmarkCategory("BuildRequestHead")]
    public string BuildRequestHeadLegacy() => LegacyRequestHeadBuilder.Build(_context, _options, v1Marker: null);

    /// <summary>The hop-by-hop and Connection-named filter over the 13 request headers: Connection matched in place.</summary>
    [Benchmark]
    [BenchmarkCategory("HopByHop")]
    public int FilterHopByHop()
    {
        var connection = s_requestHeaders[1].Value;
        var kept = 0;
        foreach (var (name, _) in s_requestHeaders)
        {
            if (!HopByHopHeaders.IsHopByHop(name) && !HopByHopHeaders.IsNominated(connection, name))
            {
                kept++;
            }
        }

        return kept;
    }

    /// <summary>Before: Connection split into a token list, then ShouldSkip.</summary>
    [Benchmark(Baseline = true)]
    [BenchmarkCategory("HopByHop")]
    public int FilterHopByHopLegacy()
    {
        var tokens = HopByHopHeaders.ParseConnectionTokens([s_requestHeaders[1].Value]);
        var kept = 0;
        foreach (var (name, _) in s_requestHeaders)
        {
            if (!HopByHopHeaders.ShouldSkip(name, tokens))
            {
                kept++;
            }
        }

        return kept;
    }

    /// <summary>The router's own forwarded element (by, for from IP addresses, host, proto) into a character buffer.</summary>
    [Benchmark]
    [BenchmarkCategory("Forwarded")]
    public int FormatForwarded() =>
        ForwardedElement.TryFormat(_chars, out var n, _local, _remote, "shop.example.com", "https") ? n : -1;

    /// <summary>Before: address strings, the element record, and a StringBuilder for its text.</summary>
    [Benchmark(Baseline = true)]
    [BenchmarkCategory("Forwarded")]
    public string FormatForwardedLegacy() =>
        LegacyCodecs.ForwardedToString(new ForwardedElement(RequestHeadBuilder.FormatAddress(_local), RequestHeadBuilder.FormatAddress(_remote), "shop.example.com", "https"));

    /// <summary>TargetClient.BuildResponseHead for a 12-header backend response: the head text is the one allocation it needs.</summary>
    [Benchmark]
    [BenchmarkCategory("BuildResponseHead")]
    public string BuildResponseHead() => TargetClient.BuildResponseHead(_response);

    [Benchmark(Baseline = true)]
    [BenchmarkCategory("BuildResponseHead")]
    public string BuildResponseHeadLegacy() => LegacyCodecs.BuildResponseHead(_response);

    /// <summary>
    /// HeadParser.TryParseResponse on the response head text into the router's header list (what the v1 router
    /// calls): only the value strings are allocated.
    /// </summary>
    [Benchmark]
    [BenchmarkCategory("ParseResponseHead")]
    public int ParseResponseHead()
    {
        _headers.Clear();
        return HeadParser.TryParseResponse(Samples.ResponseHead, out var status, _headers) ? status + _headers.Count : -1;
    }

    [Benchmark(Baseline = true)]
    [BenchmarkCategory("ParseResponseHead")]
    public int ParseResponseHeadLegacy()
    {
        _headers.Clear();
        return LegacyCodecs.TryParseResponse(Samples.ResponseHead, out var status, _headers) ? status + _headers.Count : -1;
    }
}
