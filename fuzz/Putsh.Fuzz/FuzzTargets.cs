using System.Buffers;
using System.IO.Pipelines;
using System.Net.WebSockets;
using Putsh.Protocol.Headers;
using Putsh.Protocol.V3;
using Putsh.Protocol.WebSockets;

namespace Putsh.Fuzz;

/// <summary>
/// What the fuzzer drives: bytes from the wire, read by the code that reads them from a peer. Each target may fail
/// only the way bad input is meant to fail (a <see cref="WebSocketException"/> that closes the socket, a parser that
/// says no); anything else thrown, or a read that never ends, is a finding.
/// </summary>
public static class FuzzTargets
{
    /// <summary>The largest frame payload the targets accept, so that a fuzzed length cannot ask for gigabytes.</summary>
    private const int MaxPayload = 1 << 20;

    /// <summary>
    /// RFC 6455 frames as a server (first byte even) or a client (odd) reads them, then every whole message as a
    /// cranker_3.0 message: through <see cref="PutshWebSocket"/> and <see cref="V3MessageReader"/>, as a connector
    /// socket reads them.
    /// </summary>
    public static void Frames(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            return;
        }

        var isServer = (data[0] & 1) == 0;
        var input = new Pipe();
        input.Writer.Write(data[1..]);
        input.Writer.Complete();
        using var socket = new PutshWebSocket(new MemoryTransport(input.Reader), new PutshWebSocketOptions { IsServer = isServer, MaxFramePayload = MaxPayload });
        ReadAllAsync(socket).GetAwaiter().GetResult();
    }

    private static async Task ReadAllAsync(PutshWebSocket socket)
    {
        using var reader = new V3MessageReader(MaxPayload);
        try
        {
            while (true)
            {
                var type = await reader.ReceiveAsync(socket, CancellationToken.None).ConfigureAwait(false);
                if (type == WebSocketMessageType.Close)
                {
                    return;
                }

                V3Message(reader.Message.Span);
            }
        }
        catch (WebSocketException)
        {
            // Bad framing: the socket is closed with a code, as it should be.
        }
        catch (InvalidDataException)
        {
            // A message over the limit.
        }
    }

    /// <summary>One cranker_3.0 message (§5.1) as router and connector take it apart: prefix, then what its type carries.</summary>
    public static void V3Message(ReadOnlySpan<byte> message)
    {
        if (!V3Frame.TryReadPrefix(message, out var type, out _, out _))
        {
            return;
        }

        var payload = message[V3Frame.PrefixLength..];
        switch (type)
        {
            case V3Type.Header:
                var chars = ArrayPool<char>.Shared.Rent(Math.Max(1, payload.Length));
                try
                {
                    var n = V3Frame.ReadHeader(payload, chars);
                    var text = chars.AsSpan(0, n);
                    _ = HeadParser.TryReadRequest(text, expectMarker: false, out _, out _);
                    _ = HeadParser.TryReadResponse(text, out _);
                    foreach (var header in HeadParser.EnumerateHeaders(text))
                    {
                        _ = header;
                    }
                }
                finally
                {
                    ArrayPool<char>.Shared.Return(chars);
                }

                break;
            case V3Type.RstStream:
                _ = V3Frame.ReadRst(payload);
                break;
            case V3Type.WindowUpdate:
                _ = V3Frame.ReadWindowUpdate(payload);
                break;
            default:
                break;
        }
    }

    /// <summary>A transport whose bytes come from a pipe and whose sends go nowhere.</summary>
    private sealed class MemoryTransport(PipeReader input) : WsTransport
    {
        public override PipeReader Input => input;

        public override ValueTask SendAsync(ReadOnlySequence<byte> data, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public override ValueTask CompleteOutputAsync() => ValueTask.CompletedTask;

        public override void Abort() => input.CancelPendingRead();
    }
}
