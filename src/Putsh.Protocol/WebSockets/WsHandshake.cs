using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace Putsh.Protocol.WebSockets;

/// <summary>
/// The client's side of the WebSocket opening handshake (RFC 6455 §4.1, §4.2.2): the request putsh writes itself,
/// and the checks a client must make of the answer before it speaks WebSocket: status 101, <c>Upgrade: websocket</c>,
/// <c>Connection: Upgrade</c>, the right <c>Sec-WebSocket-Accept</c>, a subprotocol only from those offered, and no
/// extension (putsh offers none at the WebSocket level).
/// </summary>
internal static class WsHandshake
{
    /// <summary>The GUID of RFC 6455 §1.3 that the accept value is computed with.</summary>
    private const string AcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

    /// <summary>A fresh <c>Sec-WebSocket-Key</c>: 16 random bytes, base64 (RFC 6455 §4.1).</summary>
    public static string CreateKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));

    /// <summary>
    /// The <c>Sec-WebSocket-Accept</c> a server must answer <paramref name="key"/> with (RFC 6455 §1.3, §4.2.2).
    /// </summary>
    /// <remarks>SHA-1 because RFC 6455 fixes it: a proof that the server read the key, not a security measure.</remarks>
#pragma warning disable CA5350 // The protocol names SHA-1; nothing here relies on its strength.
    public static string ComputeAccept(string key) => Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + AcceptGuid)));
#pragma warning restore CA5350

    /// <summary>Writes the upgrade request (RFC 6455 §4.1) for <paramref name="pathAndQuery"/> on <paramref name="host"/>, with any <paramref name="headers"/> after the required ones.</summary>
    public static void WriteRequest(IBufferWriter<byte> output, string host, string pathAndQuery, string key, IReadOnlyList<string> subprotocols, IEnumerable<KeyValuePair<string, string>> headers)
    {
        if (host.AsSpan().IndexOfAny('\r', '\n') >= 0 || pathAndQuery.AsSpan().IndexOfAny('\r', '\n') >= 0)
        {
            throw new ArgumentException("The host or target holds a line break.");
        }

        var text = new StringBuilder(256)
            .Append("GET ").Append(pathAndQuery).Append(" HTTP/1.1\r\n")
            .Append("Host: ").Append(host).Append("\r\n")
            .Append("Upgrade: websocket\r\nConnection: Upgrade\r\n")
            .Append("Sec-WebSocket-Key: ").Append(key).Append("\r\n")
            .Append("Sec-WebSocket-Version: 13\r\n");
        if (subprotocols.Count > 0)
        {
            text.Append("Sec-WebSocket-Protocol: ").Append(string.Join(", ", subprotocols)).Append("\r\n");
        }

        foreach (var (name, value) in headers)
        {
            if (name.Contains('\r') || name.Contains('\n') || value.Contains('\r') || value.Contains('\n'))
            {
                throw new ArgumentException($"The header '{name}' holds a line break.", nameof(headers));
            }

            text.Append(name).Append(": ").Append(value).Append("\r\n");
        }

        text.Append("\r\n");
        var bytes = Encoding.ASCII.GetBytes(text.ToString());
        output.Write(bytes);
    }

    /// <summary>
    /// Checks the server's answer to a request made with <paramref name="key"/>; null when it upgraded properly, else
    /// why not, in a sentence. <paramref name="header"/> gives a response header's value (comma-joined if repeated) or
    /// null; <paramref name="subprotocol"/> is the one the server chose, if any.
    /// </summary>
    public static string? Validate(int status, Func<string, string?> header, string key, IReadOnlyCollection<string> offered, out string? subprotocol)
    {
        subprotocol = null;
        if (status != 101)
        {
            return $"the server answered {status}, not 101 Switching Protocols";
        }

        if (!HasToken(header("Upgrade"), "websocket"))
        {
            return "the answer has no Upgrade: websocket";
        }

        if (!HasToken(header("Connection"), "upgrade"))
        {
            return "the answer has no Connection: Upgrade";
        }

        if (header("Sec-WebSocket-Accept")?.Trim() != ComputeAccept(key))
        {
            return "the answer's Sec-WebSocket-Accept does not match the key sent";
        }

        if (!string.IsNullOrWhiteSpace(header("Sec-WebSocket-Extensions")))
        {
            return "the server chose a WebSocket extension that was not offered";
        }

        var chosen = header("Sec-WebSocket-Protocol")?.Trim();
        if (!string.IsNullOrEmpty(chosen))
        {
            if (!offered.Contains(chosen, StringComparer.Ordinal))
            {
                return $"the server chose the subprotocol '{chosen}', which was not offered";
            }

            subprotocol = chosen;
        }

        return null;
    }

    /// <summary>Whether a comma-separated header value (repeated values joined with commas) holds <paramref name="token"/>, without case.</summary>
    internal static bool HasToken(string? value, string token)
    {
        if (value is null)
        {
            return false;
        }

        foreach (var part in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (part.Equals(token, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
