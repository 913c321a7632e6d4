using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Putsh.Connector.Pool;
using Putsh.Protocol.V3;

namespace Putsh.Connector.Sockets;

/// <summary>
/// One client connection to a TCP route (the putsh <c>tcp</c> extension, docs/protocol.md §12.9), connector side: a
/// TCP connection to the target, opened when the router's head arrives, answered with 200 (or 502 and END_STREAM when
/// the target cannot be reached), then relayed both ways until both directions are closed or either fails.
/// </summary>
#pragma warning disable CA1001 // RunAsync disposes both when the connection ends.
internal sealed class TcpTargetStream(ConnectorSocketV3 owner, int id, TcpService service, ConnectorOptions options, ILogger logger) : IV3Stream
#pragma warning restore CA1001
{
    private readonly CancellationTokenSource _cts = new();
    private readonly V3Inbound _inbound = new(owner.FlowWindow);
    private readonly FlowWindow _window = new(owner.FlowWindow, (owner.HeadAcks & HeadAcks.Response) != 0);
    private bool _started;

    private string Target => service.Host + ":" + service.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public void OnHeadPiece(ReadOnlySpan<byte> utf8Piece, byte flags)
    {
        // The head says only which route and client this is; the connection opens at its last piece.
        if (_started || (flags & V3Flags.EndHeader) == 0)
        {
            return;
        }

        _started = true;
        if ((flags & V3Flags.EndStream) != 0)
        {
            _inbound.End(V3InboundEnd.EndStream);
        }

        _ = Task.Run(RunAsync);
    }

    public void OnData(V3Payload payload, bool endStream)
    {
        if (!_inbound.TryEnqueue(payload, endStream))
        {
            owner.Sender.QueueRst(id, 1011, "flow control window exceeded");
            owner.Forget(id);
            Cancel(V3InboundEnd.SessionEnded);
        }
    }

    public void OnReset(int code, string message) => Cancel(V3InboundEnd.Reset, code, message);

    public void OnWindowUpdate(int consumed) => _window.OnAcknowledged(consumed);

    public void OnSessionEnded(V3SessionEnd end, string? detail) => Cancel(V3InboundEnd.SessionEnded);

    private void Cancel(V3InboundEnd end, int code = 0, string? text = null)
    {
        _inbound.End(end, code, text);
        _window.Release();
        try
        {
            _cts.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private async Task RunAsync()
    {
        var sender = owner.Sender;
        using var target = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            try
            {
                using var timeout = new CancellationTokenSource(options.TargetConnectTimeout, owner.Time);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(_cts.Token, timeout.Token);
                await target.ConnectAsync(service.Host, service.Port, linked.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (!_cts.IsCancellationRequested)
            {
                ConnectorLog.TcpTargetFailed(logger, service.Route, Target, ex is OperationCanceledException ? $"no connection within {options.TargetConnectTimeout}" : ex.Message);
                await sender.SendHeadAsync(id, TcpExtension.Refused, endStream: true, endStreamOnEveryPiece: false, _window, CancellationToken.None).ConfigureAwait(false);
                return;
            }

            await sender.SendHeadAsync(id, TcpExtension.Connected, endStream: false, endStreamOnEveryPiece: false, _window, _cts.Token).ConfigureAwait(false);
            var relay = new TcpRelay(sender, id, _window, _inbound, options.BodyBufferSize);
            await using var stream = new NetworkStream(target, ownsSocket: false);
            if (!await relay.RunAsync(stream, target, _cts.Token).ConfigureAwait(false))
            {
                ConnectorLog.TcpRelayFailed(logger, service.Route, Target, relay.Failure ?? "?");
            }
        }
        catch (Exception ex)
        {
            // The socket to the router broke, or the router reset the stream while we answered.
            ConnectorLog.TcpRelayFailed(logger, service.Route, Target, ex.Message);
        }
        finally
        {
            owner.Forget(id);
            _window.Release();
            _inbound.Dispose();
            _cts.Dispose();
        }
    }
}
