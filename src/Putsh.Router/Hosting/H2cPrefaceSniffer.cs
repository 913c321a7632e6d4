using System.Buffers;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Putsh.Router.Hosting;

/// <summary>
/// Connection middleware for the real cleartext listener: looks at the first bytes without consuming them and sends
/// connections that start with the HTTP/2 client preface to an <see cref="H2cHandoffEndPoint"/>; the rest go on to the
/// HTTP/1.1 pipeline.
/// </summary>
internal sealed class H2cPrefaceSniffer(H2cHandoffEndPoint target, KestrelServerLimits limits, TimeProvider time)
{
    private enum Verdict
    {
        NeedMore,
        Http2,
        Http1,
    }

    /// <summary>The HTTP/2 client connection preface (RFC 9113 §3.4).</summary>
    internal static ReadOnlySpan<byte> Preface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    public async Task OnConnectionAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        bool? isHttp2;
        try
        {
            isHttp2 = await SniffAsync(connection);
        }
        catch (Exception)
        {
            // Timed out, server stopping, or the transport failed: nothing to serve.
            return;
        }

        if (isHttp2 is null)
        {
            // The client closed without sending anything.
            return;
        }

        if (isHttp2 == false)
        {
            await next(connection);
            return;
        }

        var handoff = new H2cHandoffConnection(connection);
        if (!target.TryEnqueue(handoff))
        {
            // The handoff listener is gone (the server is stopping): close the connection.
            return;
        }

        // Keep this pipeline, which owns the socket, alive until the HTTP/2 pipeline disposes the handed-over view.
        // If the socket closes while the connection still waits in the queue, nobody will dispose it: give up on it.
        using (connection.ConnectionClosed.Register(static state => ((H2cHandoffConnection)state!).Abandon(), handoff))
        {
            await handoff.Completion;
        }
    }

    /// <summary>True for the HTTP/2 preface, false for anything else, null when the client sent nothing before closing.</summary>
    private async Task<bool?> SniffAsync(ConnectionContext connection)
    {
        // Bound the wait as Kestrel bounds an idle connection before its first request, then (once bytes arrive)
        // as it bounds a request head. Server shutdown ends the wait too.
        var closeRequested = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? CancellationToken.None;
        // On the TimeProvider (CancelAfter below keeps using it), so that tests can drive it.
        using var timeout = new CancellationTokenSource(Clamp(limits.KeepAliveTimeout), time);
        using var closing = closeRequested.UnsafeRegister(static state => ((CancellationTokenSource)state!).Cancel(), timeout);
        var sawBytes = false;

        var input = connection.Transport.Input;
        while (true)
        {
            var result = await input.ReadAsync(timeout.Token);
            var buffer = result.Buffer;
            var verdict = Classify(buffer);
            if (verdict == Verdict.NeedMore && !result.IsCompleted && !result.IsCanceled)
            {
                // Examined everything, consumed nothing: the next read waits for more bytes.
                input.AdvanceTo(buffer.Start, buffer.End);
                if (!sawBytes && !buffer.IsEmpty)
                {
                    sawBytes = true;
#pragma warning disable RS0030 // made with the TimeProvider above, which CancelAfter keeps using
                    timeout.CancelAfter(Clamp(limits.RequestHeadersTimeout));
#pragma warning restore RS0030
                }

                continue;
            }

            var empty = buffer.IsEmpty;

            // Consumed and examined nothing: whoever reads next gets the same bytes at once.
            input.AdvanceTo(buffer.Start, buffer.Start);
            return verdict switch
            {
                Verdict.Http2 => true,
                Verdict.Http1 => false,

                // The input ended (or a read was cancelled) part-way through something that may be a preface:
                // let the HTTP/1.1 pipeline deal with what there is, as it would without this middleware.
                _ => empty ? null : false,
            };
        }
    }

    private static Verdict Classify(in ReadOnlySequence<byte> buffer)
    {
        var preface = Preface;
        var length = (int)Math.Min(buffer.Length, preface.Length);
        Span<byte> head = stackalloc byte[preface.Length];
        buffer.Slice(0, length).CopyTo(head);
        if (!head[..length].SequenceEqual(preface[..length]))
        {
            return Verdict.Http1;
        }

        return length == preface.Length ? Verdict.Http2 : Verdict.NeedMore;
    }

    private static TimeSpan Clamp(TimeSpan timeout) =>
        timeout <= TimeSpan.Zero || timeout.TotalMilliseconds >= int.MaxValue ? Timeout.InfiniteTimeSpan : timeout;
}
