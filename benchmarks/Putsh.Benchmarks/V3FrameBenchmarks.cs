using System.Buffers.Binary;
using System.Text;
using BenchmarkDotNet.Attributes;
using Putsh.Protocol.V3;

namespace Putsh.Benchmarks;

/// <summary>cranker_3.0 fixed-size frames (§5.1, §5.4–§5.6): writing and reading prefixes, WINDOW_UPDATE and RST_STREAM.</summary>
[MemoryDiagnoser]
public class V3FrameBenchmarks
{
    private const string RstText = "target request failed: Connection refused (shop-backend:8080)";

    private readonly byte[] _buffer = new byte[V3Frame.PrefixLength + 4 + V3Frame.MaxRstMessageBytes];
    private byte[] _dataMessage = [];
    private byte[] _windowUpdatePayload = [];
    private byte[] _rstPayload = [];

    [GlobalSetup]
    public void Setup()
    {
        _dataMessage = new byte[V3Frame.PrefixLength + 16 * 1024];
        V3Frame.WritePrefix(_dataMessage, V3Type.Data, V3Flags.EndStream, 12345);
        _windowUpdatePayload = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(_windowUpdatePayload, 16384);
        var rst = new byte[100];
        var n = V3Frame.WriteRst(rst, 1, 1011, RstText);
        _rstPayload = rst[V3Frame.PrefixLength..n];

        Check(DecodePrefix() == 12345 + V3Type.Data + V3Flags.EndStream, "prefix");
        Check(DecodeWindowUpdate() == 16384, "window update");
        Check(DecodeRstCode() == 1011 + Encoding.UTF8.GetByteCount(RstText), "rst");
        Check(EncodeRst() == EncodeRstSpan(), "rst encodings differ");
    }

    [Benchmark]
    public byte EncodeDataPrefix()
    {
        V3Frame.WritePrefix(_buffer, V3Type.Data, V3Flags.None, 12345);
        return _buffer[5];
    }

    [Benchmark]
    public int EncodeWindowUpdate() => V3Frame.WriteWindowUpdate(_buffer, 12345, 16384);

    /// <summary>RST_STREAM with a 62-character message: the string overload (what V3Sender uses).</summary>
    [Benchmark]
    public int EncodeRst() => V3Frame.WriteRst(_buffer, 12345, 1011, RstText);

    /// <summary>The same RST_STREAM through the span overload, which also cuts the message to 123 bytes.</summary>
    [Benchmark]
    public int EncodeRstSpan() => V3Frame.WriteRst(_buffer, 12345, 1011, RstText.AsSpan(), 123);

    [Benchmark]
    public int DecodePrefix()
    {
        V3Frame.TryReadPrefix(_dataMessage, out var type, out var flags, out var id);
        return id + type + flags;
    }

    [Benchmark]
    public int DecodeWindowUpdate() => V3Frame.ReadWindowUpdate(_windowUpdatePayload);

    /// <summary>The code and the message bytes of an RST_STREAM, as slices.</summary>
    [Benchmark]
    public int DecodeRstCode() => V3Frame.ReadRstCode(_rstPayload) + V3Frame.ReadRstMessage(_rstPayload).Length;

    /// <summary>For comparison: the tuple API, which decodes the message into a string (what the router calls today).</summary>
    [Benchmark]
    public int DecodeRstWithString()
    {
        var (code, message) = V3Frame.ReadRst(_rstPayload);
        return code + message.Length;
    }

    internal static void Check(bool ok, string what)
    {
        if (!ok)
        {
            throw new InvalidOperationException("benchmark self-check failed: " + what);
        }
    }
}
