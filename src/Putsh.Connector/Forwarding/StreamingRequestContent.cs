using System.IO.Pipelines;
using System.Net;

namespace Putsh.Connector.Forwarding;

/// <summary>
/// The backend request's body as it arrives from the router: every piece goes to the backend as soon as the connector
/// has it. SocketsHttpHandler keeps request-body writes in its connection buffer until that fills or the content
/// flushes, and a plain copy (<see cref="StreamContent"/>) flushes only at the end, so small pieces used to reach the
/// backend only when the body ended. Here each write is followed by a flush, except that pieces already waiting are
/// written first and share one flush. Bytes are written from the buffers they arrived in, never copied.
/// </summary>
internal sealed class StreamingRequestContent : HttpContent
{
    private readonly Putsh.Protocol.V3.V3InboundStream? _queue;
    private readonly PipeReader? _pipe;

    /// <summary>A cranker_3.0 body: DATA frames queued by the socket's receive loop. Disposing the content disposes the queue.</summary>
    public StreamingRequestContent(Putsh.Protocol.V3.V3InboundStream queue) => _queue = queue;

    /// <summary>A cranker_1.0 body: binary messages written into a pipe. The caller completes the reader.</summary>
    public StreamingRequestContent(PipeReader pipe) => _pipe = pipe;

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken) =>
        _queue is not null ? _queue.CopyToAsync(stream, cancellationToken) : CopyAsync(_pipe!, stream, cancellationToken);

    protected override bool TryComputeLength(out long length)
    {
        // A Content-Length from the client is set on the headers; otherwise the body is sent chunked.
        length = 0;
        return false;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _queue?.Dispose();
        }

        base.Dispose(disposing);
    }

    /// <summary>Writes what each read of the pipe returns (everything that has arrived since the last), then flushes it.</summary>
    private static async Task CopyAsync(PipeReader pipe, Stream destination, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await pipe.ReadAsync(cancellationToken).ConfigureAwait(false);
            if (result.IsCanceled)
            {
                throw new OperationCanceledException("The request body was cancelled.");
            }

            var buffer = result.Buffer;
            foreach (var segment in buffer)
            {
                await destination.WriteAsync(segment, cancellationToken).ConfigureAwait(false);
            }

            var written = !buffer.IsEmpty;
            pipe.AdvanceTo(buffer.End);
            if (result.IsCompleted)
            {
                return; // the handler flushes the end of the body itself
            }

            if (written)
            {
                await destination.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
