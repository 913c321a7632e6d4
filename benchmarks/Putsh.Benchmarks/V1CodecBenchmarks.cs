using System.Text;
using BenchmarkDotNet.Attributes;
using Putsh.Protocol.V1;

namespace Putsh.Benchmarks;

/// <summary>
/// cranker_1.0 markers (§4.2–§4.3): the request head text message with its <c>_1</c>/<c>_2</c> marker, the
/// <c>_3</c> message, and recognising both in received messages.
/// </summary>
[MemoryDiagnoser]
public class V1CodecBenchmarks
{
    private readonly byte[] _buffer = new byte[V1Markers.MaxRequestHeadBytes(Samples.RequestHead.Length)];
    private byte[] _headMessage = [];
    private string _headText = "";
    private byte[] _bodyEndedMessage = [];

    [GlobalSetup]
    public void Setup()
    {
        _headText = Samples.RequestHead + V1Markers.RequestHasBody;
        _headMessage = Encoding.UTF8.GetBytes(_headText);
        _bodyEndedMessage = Encoding.UTF8.GetBytes(V1Markers.RequestBodyEnded);

        V3FrameBenchmarks.Check(EncodeRequestHead() == _headMessage.Length, "encode");
        V3FrameBenchmarks.Check(_buffer.AsSpan(0, EncodeRequestHead()).EndsWith("\n\n_2"u8), "encode marker");
        V3FrameBenchmarks.Check(DecodeMarker() == _headMessage.Length - V1Markers.MarkerLength + 1, "marker");
        V3FrameBenchmarks.Check(DecodeBodyEnded(), "_3");
    }

    /// <summary>The ~400-byte head and its <c>_2</c> marker as one UTF-8 text message, into a reused buffer.</summary>
    [Benchmark]
    public int EncodeRequestHead() => V1Markers.WriteRequestHead(_buffer, Samples.RequestHead, hasBody: false);

    /// <summary>The <c>_3</c> message that ends a request body.</summary>
    [Benchmark]
    public int EncodeBodyEnded()
    {
        V1Markers.RequestBodyEndedUtf8.CopyTo(_buffer);
        return _buffer[1];
    }

    /// <summary>Finding and checking the marker at the end of a received head message (the text the connector reads).</summary>
    [Benchmark]
    public int DecodeMarker() =>
        V1Markers.TryReadMarker(_headText, out var hasBody, out var head) ? head.Length + (hasBody ? 1 : 0) : -1;

    /// <summary>Is a received text message <c>_3</c>?</summary>
    [Benchmark]
    public bool DecodeBodyEnded() => V1Markers.IsRequestBodyEnded(_bodyEndedMessage);
}
