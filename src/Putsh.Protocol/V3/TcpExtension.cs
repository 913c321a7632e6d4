using System.Net;
using System.Net.Sockets;

namespace Putsh.Protocol.V3;

/// <summary>
/// The putsh <c>tcp</c> extension (docs/protocol.md §12.9): a cranker_3.0 socket registered with it serves a TCP route,
/// and each of its streams is one TCP connection. The router opens a stream with <see cref="OpenHead"/>; the connector
/// answers <see cref="Connected"/> once its target took the connection, or <see cref="Refused"/> with END_STREAM; bytes
/// then go both ways as DATA under the usual flow control, END_STREAM is a half-close (FIN) of that direction, and
/// RST_STREAM is an abort (RST).
/// </summary>
internal static class TcpExtension
{
    public const string Name = "tcp";

    /// <summary>The connector's answer when the target accepted the connection.</summary>
    public const string Connected = "HTTP/1.1 200 Connected\n";

    /// <summary>The connector's answer (with END_STREAM) when the target could not be reached.</summary>
    public const string Refused = "HTTP/1.1 502 Bad Gateway\n";

    /// <summary>True when comma-separated <c>Putsh-Extensions</c> values name the extension.</summary>
    public static bool IsNamed(IEnumerable<string?> values) => WsFrame.Names(values, Name);

    /// <summary>The head of a stream for a client connection to <paramref name="route"/>: the route, and where the connection came from and arrived.</summary>
    public static string OpenHead(string route, EndPoint? client, EndPoint? local) =>
        $"CONNECT {route} HTTP/1.1\nforwarded:for=\"{client}\";by=\"{local}\"\n\n";

    /// <summary>True for a head that answers the connection with success (200).</summary>
    public static bool IsConnected(ReadOnlySpan<char> head) => head.StartsWith("HTTP/1.1 200", StringComparison.Ordinal);
}

/// <summary>
/// Relays one TCP connection over one stream of a cranker_3.0 socket, both directions at once: what
/// the source gives goes out as DATA, and at its end an empty DATA with END_STREAM; what arrives in
/// the inbound queue is written to the destination socket and acknowledged once written, and at END_STREAM the
/// socket's sending side is shut (a FIN after the last byte). Half-closes are thus kept in each direction.
/// </summary>
internal sealed class TcpRelay(V3Sender sender, int id, FlowWindow window, V3Inbound inbound, int chunkSize)
{
    private int _reset;

    /// <summary>What ended the relay when it did not end cleanly: this end's failure, or the peer's reset.</summary>
    public string? Failure { get; private set; }

    /// <summary>Bytes from the source sent on, and bytes written to the destination.</summary>
    public long BytesUp { get; private set; }

    public long BytesDown { get; private set; }

    /// <summary>Runs both directions to their ends; true when both ended with a half-close, false when either failed (the stream is then reset, unless the peer reset it).</summary>
    public async Task<bool> RunAsync(Stream source, Socket destination, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var up = UpAsync(source, stop);
        var down = DownAsync(destination, stop);
        await Task.WhenAll(up, down).ConfigureAwait(false);
        return Failure is null;
    }

    private async Task UpAsync(Stream source, CancellationTokenSource stop)
    {
        try
        {
            BytesUp = await sender.SendBodyAsync(source, null, chunkSize, id, window, stop.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            await FailAsync(ex is V3SendFailedException ? "the socket to the peer broke" : "reading the connection failed: " + ex.Message, stop, sendReset: ex is not V3SendFailedException).ConfigureAwait(false);
        }
    }

    private async Task DownAsync(Socket destination, CancellationTokenSource stop)
    {
        try
        {
            while (true)
            {
                var (read, chunk) = await inbound.ReadAsync(stop.Token).ConfigureAwait(false);
                if (!read)
                {
                    break;
                }

                try
                {
                    if (chunk.Length > 0)
                    {
                        await destination.SendAsync(chunk.Memory, SocketFlags.None, stop.Token).ConfigureAwait(false);
                        BytesDown += chunk.Length;
                    }
                }
                finally
                {
                    inbound.Release(chunk);
                }

                if (!chunk.EndStream && inbound.OnConsumed(chunk.Length) is var ack and > 0)
                {
                    sender.QueueWindowUpdate(id, ack);
                }
            }

            switch (inbound.Ending)
            {
                case V3InboundEnd.EndStream:
                    destination.Shutdown(SocketShutdown.Send);
                    break;
                case V3InboundEnd.Reset:
                    await FailAsync($"reset by the peer ({inbound.EndCode} {inbound.EndText})", stop, sendReset: false).ConfigureAwait(false);
                    break;
                default:
                    await FailAsync(inbound.EndText ?? "the stream ended", stop, sendReset: inbound.Ending == V3InboundEnd.Abandoned).ConfigureAwait(false);
                    break;
            }
        }
        catch (Exception ex)
        {
            await FailAsync("writing the connection failed: " + ex.Message, stop, sendReset: true).ConfigureAwait(false);
        }
    }

    /// <summary>The first failure counts: it stops the other direction and, where this end failed, resets the stream.</summary>
    private async Task FailAsync(string reason, CancellationTokenSource stop, bool sendReset)
    {
        if (Interlocked.Exchange(ref _reset, 1) != 0)
        {
            return;
        }

        Failure = reason;
        inbound.End(V3InboundEnd.Abandoned);
        await stop.CancelAsync().ConfigureAwait(false);
        if (sendReset)
        {
            try
            {
                await sender.SendRstAsync(id, 1, reason.Length > 100 ? reason[..100] : reason, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The socket is gone; so is the stream.
            }
        }
    }
}
