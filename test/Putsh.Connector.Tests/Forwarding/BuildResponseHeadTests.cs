using System.Net;
using System.Net.Http.Headers;
using Putsh.Connector.Forwarding;

namespace Putsh.Connector.Tests.Forwarding;

/// <summary>The response head the connector sends (§2.2): lowercase names, one line per value, hop-by-hop dropped.</summary>
public sealed class BuildResponseHeadTests
{
    [Fact]
    public void A_backend_response_becomes_a_lowercase_head_without_hop_by_hop_headers()
    {
        using var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(new byte[5]) };
        response.Headers.Date = new DateTimeOffset(2026, 3, 3, 9, 0, 0, TimeSpan.Zero);
        response.Headers.TryAddWithoutValidation("Connection", "keep-alive, X-Hop");
        response.Headers.TryAddWithoutValidation("Keep-Alive", "timeout=5");
        response.Headers.TryAddWithoutValidation("X-Hop", "dropped");
        response.Headers.TryAddWithoutValidation("Set-Cookie", ["a=1; Path=/", "b=2"]);
        response.Headers.TryAddWithoutValidation("ETag", "\"abc\"");
        response.Headers.TryAddWithoutValidation("x-already-lower", "1");
        response.Content.Headers.ContentType = MediaTypeHeaderValue.Parse("text/plain; charset=utf-8");
        response.Content.Headers.ContentLength = 5;

        Assert.Equal(
            "HTTP/1.1 200 OK\ndate:Tue, 03 Mar 2026 09:00:00 GMT\nset-cookie:a=1; Path=/\nset-cookie:b=2\netag:\"abc\"\n"
            + "x-already-lower:1\ncontent-type:text/plain; charset=utf-8\ncontent-length:5\n",
            TargetClient.BuildResponseHead(response));
    }

    [Fact]
    public void Without_a_connection_header_only_the_fixed_set_is_dropped_and_a_missing_reason_is_a_dash()
    {
        using var response = new HttpResponseMessage((HttpStatusCode)299) { Content = new ByteArrayContent([]) };
        response.ReasonPhrase = null;
        response.Headers.TryAddWithoutValidation("Transfer-Encoding", "chunked");
        response.Headers.TryAddWithoutValidation("X-Custom", "v");

        Assert.Equal("HTTP/1.1 299 -\nx-custom:v\n", TargetClient.BuildResponseHead(response));
    }
}
