using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Putsh.Cli.Tests;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.FunctionalTests;

/// <summary>
/// A request body sent in small pieces reaches the backend piece by piece, not when a buffer fills or the body ends
/// (streaming uploads, long-polling, bidirectional use). The client writes a piece only once the backend has read the
/// one before, so a hop that holds small pieces back stalls the exchange until the timeout.
/// </summary>
public sealed class StreamingRequestBodyTests(ITestOutputHelper output)
{
    private const int PieceSize = 16;
    private const int Pieces = 3;

    [Theory]
    [InlineData("cranker_1.0", false)]
    [InlineData("cranker_1.0", true)]
    [InlineData("cranker_3.0", false)]
    [InlineData("cranker_3.0", true)]
    public async Task Each_small_request_body_piece_reaches_the_backend_before_the_next_is_sent(string protocol, bool fixedLength)
    {
        var pieces = Enumerable.Range(0, Pieces).Select(i => Encoding.ASCII.GetBytes($"piece {i} of {Pieces} ---")[..PieceSize]).ToArray();
        var received = pieces.Select(_ => new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        await using var backend = await TestBackend.StartAsync(app => app.MapPost("/stream/pieces", async (HttpContext c) =>
        {
            var body = new MemoryStream();
            var buffer = new byte[1024];
            int n;
            while ((n = await c.Request.Body.ReadAsync(buffer)) > 0)
            {
                body.Write(buffer, 0, n);
                var whole = (int)(body.Length / PieceSize);
                for (var i = 0; i < whole && i < Pieces; i++)
                {
                    // What the backend holds when piece i is complete: the client sends nothing more until then.
                    received[i].TrySetResult(Encoding.ASCII.GetString(body.GetBuffer(), 0, (int)body.Length));
                }
            }

            return Results.Text($"{body.Length} {Encoding.ASCII.GetString(body.ToArray())}");
        }), output);
        await using var router = await CliTestRouter.StartAsync(output);
        await using var connector = await TestConnector.StartAsync(router, "stream", backend, output, o =>
        {
            o.Protocols.Clear();
            o.Protocols.Add(protocol);
        }, sockets: 1);
        Assert.Equal(protocol, connector.Routers[0].Protocol);

        using var content = new PieceByPieceContent(pieces, received);
        if (fixedLength)
        {
            content.Headers.ContentLength = PieceSize * Pieces;
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, "/stream/pieces") { Content = content };
        using var response = await router.Client.SendAsync(request).DefaultTimeout();
        var text = await response.Content.ReadAsStringAsync().DefaultTimeout();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var all = string.Concat(pieces.Select(p => Encoding.ASCII.GetString(p)));
        Assert.Equal($"{PieceSize * Pieces} {all}", text);
        for (var i = 0; i < Pieces; i++)
        {
            // Piece i had arrived, and nothing after it, before piece i + 1 was written.
            Assert.Equal(all[..(PieceSize * (i + 1))], await received[i].Task);
        }
    }

    /// <summary>Writes one piece, flushes it, and waits until the backend has read it before writing the next.</summary>
    private sealed class PieceByPieceContent(byte[][] pieces, TaskCompletionSource<string>[] received) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            for (var i = 0; i < pieces.Length; i++)
            {
                await stream.WriteAsync(pieces[i], cancellationToken);
                await stream.FlushAsync(cancellationToken);
                await received[i].Task.DefaultTimeout();
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
