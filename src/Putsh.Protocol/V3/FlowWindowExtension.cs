using System.Globalization;

namespace Putsh.Protocol.V3;

/// <summary>
/// The putsh <c>flow-window</c> extension (docs/protocol.md §12.3): a cranker_3.0 socket whose two ends agreed, at
/// registration, on a per-stream window larger than §5.6's 64 KiB. The connector offers
/// <c>Putsh-Extensions: flow-window=N</c>; a router that supports it answers with the window it accepts (at most N);
/// both then pause a stream's sender above that many unacknowledged bytes and resume it below a quarter of it, in
/// both directions. Without the answer, or with any other peer, the socket keeps §5.6's 64 KiB / 16 KiB.
/// </summary>
internal static class FlowWindowExtension
{
    public const string Name = "flow-window";

    /// <summary>
    /// Offered and answered only beside a flow-window: on that socket HEADER messages are neither acknowledged nor
    /// counted against the window (heads are bounded by the peers' header limits, not by flow control), which saves
    /// two WebSocket messages and their wake-ups per request.
    /// </summary>
    public const string NoHeadAck = "no-head-ack";

    /// <summary>
    /// Like <see cref="NoHeadAck"/> for the connector's response heads only: the router does not acknowledge them and
    /// the connector does not count them, while request heads are acknowledged on receipt as §5.3 says, so that the
    /// router can tell a request the connector never took. One message fewer per request instead of two.
    /// </summary>
    public const string NoResponseHeadAck = "no-response-head-ack";

    /// <summary>
    /// Which heads are acknowledged on a socket whose peers agreed <paramref name="window"/> (0: none agreed, so
    /// §5.3's acknowledgements both ways), given the <c>Putsh-Extensions</c> values offered or answered.
    /// </summary>
    public static HeadAcks ParseHeadAcks(IEnumerable<string?> values, int window)
    {
        if (window <= 0)
        {
            return HeadAcks.Both;
        }

        if (WsFrame.Names(values, NoHeadAck))
        {
            return HeadAcks.None;
        }

        return WsFrame.Names(values, NoResponseHeadAck) ? HeadAcks.Request : HeadAcks.Both;
    }

    /// <summary>The largest window either side agrees to: 16 MiB.</summary>
    public const int Max = 16 * 1024 * 1024;

    /// <summary>The token that offers or accepts <paramref name="window"/> bytes.</summary>
    public static string Token(int window) => Name + "=" + window.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// The window named in comma-separated <c>Putsh-Extensions</c> values, or 0 when there is none or it is not a
    /// whole number of bytes above 64 KiB and at most <see cref="Max"/>.
    /// </summary>
    public static int Parse(IEnumerable<string?> values)
    {
        foreach (var value in values)
        {
            if (value is null)
            {
                continue;
            }

            foreach (var token in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                var eq = token.IndexOf('=', StringComparison.Ordinal);
                if (eq > 0 && token.AsSpan(0, eq).Trim().Equals(Name, StringComparison.OrdinalIgnoreCase))
                {
                    return int.TryParse(token.AsSpan(eq + 1).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var window)
                        && window > V3Frame.HighWatermark && window <= Max
                        ? window
                        : 0;
                }
            }
        }

        return 0;
    }

    /// <summary>
    /// The window a router accepts for an <paramref name="offered"/> one, given its own <paramref name="limit"/>; 0
    /// (no extension: §5.6's window) when either is not above 64 KiB.
    /// </summary>
    public static int Agree(int offered, int limit)
    {
        var window = Math.Min(offered, Math.Min(limit, Max));
        return window > V3Frame.HighWatermark ? window : 0;
    }
}

/// <summary>Which HEADER messages a cranker_3.0 socket's peers acknowledge on receipt and count against stream windows.</summary>
[Flags]
internal enum HeadAcks
{
    /// <summary><c>no-head-ack</c>: neither.</summary>
    None = 0,

    /// <summary>The router's request heads, acknowledged by the connector.</summary>
    Request = 1,

    /// <summary>The connector's response heads, acknowledged by the router.</summary>
    Response = 2,

    /// <summary>§5.3 and §5.6 as written: every head, both ways.</summary>
    Both = Request | Response,
}
