using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Logging;
using Putsh.Protocol.V3;
using Putsh.Router.Observability;
using Putsh.Router.Routing;
using Putsh.Router.Sockets;

namespace Putsh.Router.Proxy;

/// <summary>
/// Carries the connections of a TCP listener (<c>--tcp-listen</c>) to the connectors of its TCP route (the putsh
/// <c>tcp</c> extension, docs/protocol.md §12.9): one cranker_3.0 stream per connection, bytes both ways under the
/// stream's flow control, a half-close kept in each direction. A connection that finds no connector is closed at once.
/// </summary>
/// <remarks>
/// Bytes from the client are read through Kestrel's transport; bytes to the client are written to its socket directly
/// (Kestrel's socket transport shuts both directions when its output completes, so it could not send a FIN while the
/// client is still sending). Kestrel's output pipe is left untouched until the relay is over.
/// </remarks>
internal sealed class TcpRouteProxy(RouteTable table, Microsoft.Extensions.Options.IOptions<RouterOptions> configured, RouterMetrics metrics, ILogger<TcpRouteProxy> logger)
{
    private readonly RouterOptions options = configured.Value;

    public async Task RunAsync(ConnectionContext connection, string route)
    {
        var client = connection.Features.Get<IConnectionSocketFeature>()?.Socket;
        if (client is null)
        {
            throw new InvalidOperationException("A TCP route needs Kestrel's socket transport (IConnectionSocketFeature).");
        }

        var socket = table.Dark.IsDarkRoute(route) ? null : table.Tcp(route)?.Next();
        var stream = socket is null ? null : new TcpStream(socket, options);
        if (socket is null || !socket.TryOpen(stream!, out var id))
        {
            RouterLog.TcpNoConnector(logger, route, connection.RemoteEndPoint?.ToString() ?? "?");
            metrics.TcpConnection(route, "no_connector");
            return; // Kestrel closes the connection
        }

        stream!.Id = id;
        TcpRelay? relay = new TcpRelay(socket.Sender, id, stream.Window, stream.Inbound, options.BodyBufferSize);
        var ok = false;
        try
        {
            await socket.Sender.SendHeadAsync(id, TcpExtension.OpenHead(route, connection.RemoteEndPoint, connection.LocalEndPoint), endStream: false, endStreamOnEveryPiece: false, stream.Window, CancellationToken.None).ConfigureAwait(false);
            // Not ConnectionClosed: Kestrel fires it at the client's FIN, which ends only one direction here.
            ok = await relay.RunAsync(connection.Transport.Input.AsStream(leaveOpen: true), client, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            relay = null;
            RouterLog.TcpFailed(logger, route, connection.RemoteEndPoint?.ToString() ?? "?", ex.Message);
        }
        finally
        {
            socket.Forget(id);
            stream.Window.Release();
            stream.Inbound.Dispose();
        }

        if (relay is not null && !ok)
        {
            RouterLog.TcpFailed(logger, route, connection.RemoteEndPoint?.ToString() ?? "?", relay.Failure ?? "?");
        }

        metrics.TcpConnection(route, ok ? "relayed" : "failed");
        if (!ok)
        {
            connection.Abort(new ConnectionAbortedException("The TCP relay failed."));
        }
    }

    /// <summary>The stream's side as the socket's receive loop sees it: the connector's answer, then its bytes.</summary>
    private sealed class TcpStream(RouterSocketV3 socket, RouterOptions options) : IV3Stream
    {
        private V3HeadBuffer? _head;
        private bool _answered;

        /// <summary>The stream's id, set once it is open (before its head goes out, so before anything can arrive).</summary>
        public int Id { get; set; }

        public V3Inbound Inbound { get; } = new(socket.FlowWindow, options.ResponseBudget);

        public FlowWindow Window { get; } = new(socket.FlowWindow, (socket.HeadAcks & HeadAcks.Request) != 0);

        public void OnHeadPiece(ReadOnlySpan<byte> utf8Piece, byte flags)
        {
            if (_answered)
            {
                return;
            }

            _head ??= new V3HeadBuffer(Math.Max(64, utf8Piece.Length));
            if (!_head.TryAppend(utf8Piece, options.MaxResponseHeadSize))
            {
                _answered = true;
                _head.Dispose();
                Inbound.End(V3InboundEnd.SessionEnded, 0, "the connector's answer was too long");
                return;
            }

            if ((flags & V3Flags.EndHeader) == 0)
            {
                return;
            }

            _answered = true;
            var connected = TcpExtension.IsConnected(_head.Text);
            _head.Dispose();
            _head = null;
            if (!connected)
            {
                Inbound.End(V3InboundEnd.SessionEnded, 0, "the connector could not reach its target");
            }
            else if ((flags & V3Flags.EndStream) != 0)
            {
                Inbound.End(V3InboundEnd.EndStream);
            }
        }

        public void OnData(V3Payload payload, bool endStream)
        {
            if (!Inbound.TryEnqueue(payload, endStream))
            {
                // Far past its window: reset rather than buffer without bound.
                socket.Sender.QueueRst(Id, 1, "Flow control window exceeded");
                socket.Forget(Id);
                Inbound.End(V3InboundEnd.SessionEnded, 0, "the connector ignored flow control");
            }
        }

        public void OnReset(int code, string message) => Inbound.End(V3InboundEnd.Reset, code, message);

        public void OnWindowUpdate(int consumed) => Window.OnAcknowledged(consumed);

        public void OnSessionEnded(V3SessionEnd end, string? detail) => Inbound.End(V3InboundEnd.SessionEnded, 0, detail ?? "the connector's socket ended");
    }
}
