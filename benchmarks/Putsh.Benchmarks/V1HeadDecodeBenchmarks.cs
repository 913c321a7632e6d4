using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Putsh.Benchmarks.Legacy;
using Putsh.Protocol.Headers;
using Putsh.Protocol.V1;

namespace Putsh.Benchmarks;

/// <summary>
/// Reading a received cranker_1.0 request head message (§4.2) back: marker, request line and headers, in place or
/// into the connector's <see cref="ParsedRequestHead"/>, against the former string parser (the baseline).
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class V1HeadDecodeBenchmarks
{
    private readonly char[] _chars = new char[Samples.RequestHead.Length + 2];
    private byte[] _headMessage = [];
    private string _headMessageText = "";

    [GlobalSetup]
    public void Setup()
    {
        _headMessageText = Samples.RequestHead + V1Markers.RequestHasBody;
        _headMessage = Encoding.UTF8.GetBytes(_headMessageText);

        V3FrameBenchmarks.Check(DecodeRequestHead() == 10, "decode");
        V3FrameBenchmarks.Check(DecodeRequestHeadToStrings() == 10, "decode to strings");
        V3FrameBenchmarks.Check(DecodeRequestHeadLegacy() == 10, "decode (baseline)");
    }

    /// <summary>
    /// A received head message: UTF-8 decoded into a reused character buffer, marker, request line and every header
    /// read as slices.
    /// </summary>
    [Benchmark]
    [BenchmarkCategory("DecodeRequestHead")]
    public int DecodeRequestHead()
    {
        var n = Encoding.UTF8.GetChars(_headMessage, _chars);
        if (!HeadParser.TryReadRequest(_chars.AsSpan(0, n), expectMarker: true, out var head, out _))
        {
            return -1;
        }

        var count = 0;
        foreach (var header in head.Headers)
        {
            count += header.Name.IsEmpty ? 0 : 1;
        }

        return count;
    }

    /// <summary>
    /// The same into the connector's <c>ParsedRequestHead</c> (what the connector calls): the object, its list,
    /// the target and the values are allocated; method and common names are shared strings.
    /// </summary>
    [Benchmark]
    [BenchmarkCategory("DecodeRequestHead")]
    public int DecodeRequestHeadToStrings() =>
        HeadParser.TryParseRequest(_headMessageText, expectMarker: true, out var head, out _) ? head!.Headers.Count : -1;

    /// <summary>Before: the former string parser (lines, substrings for every name and value).</summary>
    [Benchmark(Baseline = true)]
    [BenchmarkCategory("DecodeRequestHead")]
    public int DecodeRequestHeadLegacy() =>
        LegacyCodecs.TryParseRequest(_headMessageText, expectMarker: true, out var head, out _) ? head!.Headers.Count : -1;
}
