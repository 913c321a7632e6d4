using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Putsh.Benchmarks.Legacy;
using Putsh.Protocol.Headers;
using Putsh.Protocol.V3;

namespace Putsh.Benchmarks;

/// <summary>
/// cranker_3.0 HEADER messages (§5.3): a head cut into pieces of at most 16000 characters and UTF-8 encoded into a
/// reused buffer, and a received HEADER payload read back into a status and headers. Each "after" is measured
/// against the string-based path it replaces (the baseline of its category).
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class V3HeadBenchmarks
{
    private readonly byte[] _buffer = new byte[V3Frame.MaxHeadPieceMessage];
    private readonly List<KeyValuePair<string, string>> _headers = new(16);
    private byte[] _responseMessage = [];
    private V3HeadBuffer? _headBuffer;

    [GlobalSetup]
    public void Setup()
    {
        _responseMessage = new byte[V3Frame.MaxHeadPieceMessage];
        var n = V3Frame.WriteHeader(_responseMessage, 7, V3Flags.EndHeader, Samples.ResponseHead);
        _responseMessage = _responseMessage[..n];
        _headBuffer = new V3HeadBuffer(4096);

        var typicalBytes = Encoding.UTF8.GetByteCount(Samples.RequestHead);
        V3FrameBenchmarks.Check(typicalBytes is > 350 and < 450, "typical head size " + typicalBytes);
        V3FrameBenchmarks.Check(EncodeTypicalHead() == V3Frame.PrefixLength + typicalBytes, "typical head");
        V3FrameBenchmarks.Check(EncodeTypicalHeadWithSplitHead() == EncodeTypicalHead(), "typical head (baseline)");
        V3FrameBenchmarks.Check(Samples.LargeRequestHead.Length == 40000, "large head length");
        V3FrameBenchmarks.Check(EncodeLargeHead() == 3 * V3Frame.PrefixLength + 40000, "large head");
        V3FrameBenchmarks.Check(EncodeLargeHeadWithSplitHead() == EncodeLargeHead(), "large head (baseline)");
        V3FrameBenchmarks.Check(DecodeResponseHead() == 200 + 10, "decode");
        V3FrameBenchmarks.Check(DecodeResponseHeadToList() == 200 + 10, "decode to list");
        V3FrameBenchmarks.Check(DecodeResponseHeadLegacy() == 200 + 10, "decode (baseline)");
    }

    [GlobalCleanup]
    public void Cleanup() => _headBuffer?.Dispose();

    /// <summary>The ~400-byte request head as HEADER message bytes: pieces as slices, UTF-8 straight into the buffer.</summary>
    [Benchmark]
    [BenchmarkCategory("EncodeHead-400B")]
    public int EncodeTypicalHead() => EncodeHead(Samples.RequestHead);

    /// <summary>Before: a list of substrings (LegacyCodecs.SplitHead), each encoded.</summary>
    [Benchmark(Baseline = true)]
    [BenchmarkCategory("EncodeHead-400B")]
    public int EncodeTypicalHeadWithSplitHead() => EncodeHeadWithSplitHead(Samples.RequestHead);

    /// <summary>A 40,000-character head: three HEADER messages, each written into the same 48 KiB buffer.</summary>
    [Benchmark]
    [BenchmarkCategory("EncodeHead-40000ch")]
    public int EncodeLargeHead() => EncodeHead(Samples.LargeRequestHead);

    [Benchmark(Baseline = true)]
    [BenchmarkCategory("EncodeHead-40000ch")]
    public int EncodeLargeHeadWithSplitHead() => EncodeHeadWithSplitHead(Samples.LargeRequestHead);

    /// <summary>
    /// A HEADER message received: prefix read, payload decoded into a pooled character buffer, status parsed and
    /// every header visited as slices (names and values are summed so that nothing is optimised away).
    /// </summary>
    [Benchmark]
    [BenchmarkCategory("DecodeResponseHead")]
    public int DecodeResponseHead()
    {
        V3Frame.TryReadPrefix(_responseMessage, out _, out var flags, out _);
        var buffer = _headBuffer!;
        buffer.Clear();
        buffer.TryAppend(_responseMessage.AsSpan(V3Frame.PrefixLength));
        if ((flags & V3Flags.EndHeader) == 0 || !HeadParser.TryReadResponse(buffer.Text, out var head))
        {
            return -1;
        }

        var count = 0;
        foreach (var header in head.Headers)
        {
            count += header.Name.IsEmpty || header.Value.IsEmpty ? 0 : 1;
        }

        return head.Status + count;
    }

    /// <summary>
    /// The same, materialised as the router's <c>List&lt;KeyValuePair&lt;string, string&gt;&gt;</c>: common names
    /// come from the shared table, so only the value strings are allocated.
    /// </summary>
    [Benchmark]
    [BenchmarkCategory("DecodeResponseHead")]
    public int DecodeResponseHeadToList()
    {
        var buffer = _headBuffer!;
        buffer.Clear();
        buffer.TryAppend(_responseMessage.AsSpan(V3Frame.PrefixLength));
        _headers.Clear();
        return HeadParser.TryParseResponse(buffer.Text, out var status, _headers) ? status + _headers.Count : -1;
    }

    /// <summary>Before: the payload decoded to a string, then split into lines, parts and substrings.</summary>
    [Benchmark(Baseline = true)]
    [BenchmarkCategory("DecodeResponseHead")]
    public int DecodeResponseHeadLegacy()
    {
        var text = Encoding.UTF8.GetString(_responseMessage.AsSpan(V3Frame.PrefixLength));
        _headers.Clear();
        return LegacyCodecs.TryParseResponse(text, out var status, _headers) ? status + _headers.Count : -1;
    }

    private int EncodeHead(string head)
    {
        var total = 0;
        foreach (var piece in V3Frame.EnumerateHeadPieces(head))
        {
            total += V3Frame.WriteHeader(_buffer, 12345, V3Frame.HeadPieceFlags(piece.IsLast, endStream: true, endStreamOnEveryPiece: false), piece.Text);
        }

        return total;
    }

    private int EncodeHeadWithSplitHead(string head)
    {
        var pieces = LegacyCodecs.SplitHead(head);
        var total = 0;
        for (var i = 0; i < pieces.Count; i++)
        {
            var n = Encoding.UTF8.GetBytes(pieces[i], _buffer.AsSpan(V3Frame.PrefixLength));
            V3Frame.WritePrefix(_buffer, V3Type.Header, V3Frame.HeadPieceFlags(i, pieces.Count, true, false), 12345);
            total += V3Frame.PrefixLength + n;
        }

        return total;
    }
}
