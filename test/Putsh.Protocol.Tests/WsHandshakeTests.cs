using System.Buffers;
using System.Text;
using Putsh.Protocol.WebSockets;

namespace Putsh.Protocol.Tests;

/// <summary>The client side of the RFC 6455 opening handshake (§1.3, §4.1, §4.2.2).</summary>
public sealed class WsHandshakeTests
{
    private const string Key = "dGhlIHNhbXBsZSBub25jZQ==";

    private static Func<string, string?> Headers(params (string Name, string Value)[] headers) =>
        name => headers.Where(h => h.Name.Equals(name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value).FirstOrDefault();

    [Fact]
    public void The_accept_value_is_the_one_of_section_1_3() =>
        Assert.Equal("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", WsHandshake.ComputeAccept(Key));

    [Fact]
    public void A_key_is_16_random_bytes_in_base64()
    {
        var key = WsHandshake.CreateKey();
        Assert.Equal(16, Convert.FromBase64String(key).Length);
        Assert.NotEqual(key, WsHandshake.CreateKey());
    }

    [Fact]
    public void The_request_carries_the_required_headers_then_the_given_ones()
    {
        var output = new ArrayBufferWriter<byte>();
        WsHandshake.WriteRequest(output, "router:8081", "/register/?route=a", Key, ["cranker_3.0", "cranker_1.0"], [new("CrankerProtocol", "1.0"), new("Route", "a")]);
        Assert.Equal(
            "GET /register/?route=a HTTP/1.1\r\nHost: router:8081\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            $"Sec-WebSocket-Key: {Key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: cranker_3.0, cranker_1.0\r\n" +
            "CrankerProtocol: 1.0\r\nRoute: a\r\n\r\n",
            Encoding.ASCII.GetString(output.WrittenSpan));
        Assert.Throws<ArgumentException>(() => WsHandshake.WriteRequest(new ArrayBufferWriter<byte>(), "h", "/", Key, [], [new("X", "a\r\nInjected: 1")]));
    }

    [Fact]
    public void A_proper_answer_is_accepted_with_the_subprotocol_chosen()
    {
        var error = WsHandshake.Validate(101, Headers(("Upgrade", "WebSocket"), ("Connection", "keep-alive, Upgrade"), ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), ("Sec-WebSocket-Protocol", "cranker_3.0")), Key, ["cranker_3.0", "cranker_1.0"], out var chosen);
        Assert.Null(error);
        Assert.Equal("cranker_3.0", chosen);
        Assert.Null(WsHandshake.Validate(101, Headers(("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")), Key, ["cranker_3.0"], out var none));
        Assert.Null(none); // no subprotocol: the router predates negotiation (cranker §1.4)
    }

    [Theory]
    [InlineData(200, "websocket", "Upgrade", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", null, null, "200")]
    [InlineData(101, "h2c", "Upgrade", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", null, null, "Upgrade: websocket")]
    [InlineData(101, "websocket", "keep-alive", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", null, null, "Connection: Upgrade")]
    [InlineData(101, "websocket", "Upgrade", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", null, null, "Sec-WebSocket-Accept")]
    [InlineData(101, "websocket", "Upgrade", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "permessage-deflate", null, "extension")]
    [InlineData(101, "websocket", "Upgrade", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", null, "cranker_9.0", "cranker_9.0")]
    public void A_wrong_answer_is_refused_saying_why(int status, string upgrade, string connection, string accept, string? extensions, string? protocol, string named)
    {
        var headers = new List<(string, string)> { ("Upgrade", upgrade), ("Connection", connection), ("Sec-WebSocket-Accept", accept) };
        if (extensions is not null)
        {
            headers.Add(("Sec-WebSocket-Extensions", extensions));
        }

        if (protocol is not null)
        {
            headers.Add(("Sec-WebSocket-Protocol", protocol));
        }

        var error = WsHandshake.Validate(status, Headers([.. headers]), Key, ["cranker_3.0"], out var chosen);
        Assert.NotNull(error);
        Assert.Contains(named, error, StringComparison.Ordinal);
        Assert.Null(chosen);
    }
}
