namespace Putsh.Protocol;

/// <summary>
/// Names and negotiation rules of the Cranker wire protocols (docs/protocol.md §1.3 and §1.4).
/// </summary>
public static class CrankerProtocol
{
    /// <summary>The WebSocket subprotocol of Cranker 1.0: one HTTP exchange per socket.</summary>
    public const string V1 = "cranker_1.0";

    /// <summary>The WebSocket subprotocol of Cranker 3.0: many exchanges multiplexed on one socket.</summary>
    public const string V3 = "cranker_3.0";

    /// <summary>The legacy registration header every connector sends, with the value <c>1.0</c>.</summary>
    public const string LegacyHeaderName = "CrankerProtocol";

    /// <summary>The only value the legacy header has ever had.</summary>
    public const string LegacyHeaderValue = "1.0";

    /// <summary>Registration header naming the route the connector serves.</summary>
    public const string RouteHeaderName = "Route";

    /// <summary>Registration header naming the host the connector serves (cranker_3.0 only).</summary>
    public const string DomainHeaderName = "Domain";

    /// <summary>Query parameter carrying the connector instance id.</summary>
    public const string ConnectorInstanceIdQuery = "connectorInstanceID";

    /// <summary>Query parameter carrying the connector's component name.</summary>
    public const string ComponentNameQuery = "componentName";

    /// <summary>The catch-all route and the any-domain marker.</summary>
    public const string CatchAll = "*";

    /// <summary>The longest route name a registration may carry.</summary>
    public const int MaxRouteLength = 255;

    /// <summary>The characters a route name may hold besides ASCII letters and digits (RFC 3986 <c>pchar</c> without <c>%</c>).</summary>
    public const string RouteSymbols = "-._~!$&'()*+,;=:@";

    /// <summary>
    /// Whether <paramref name="route"/> can be registered: the catch-all <c>*</c>, or a name that a request's first
    /// path segment can match. That is 1 to <see cref="MaxRouteLength"/> characters drawn from RFC 3986's
    /// <c>pchar</c> without percent-encoding (letters, digits, <c>-._~!$&amp;'()*+,;=:@</c>), and not <c>.</c> or
    /// <c>..</c>. Names such as <c>../..</c>, <c>a b</c> and <c>%2e%2e</c> are refused. With
    /// <paramref name="multiSegment"/> (a router routing by longest prefix), a route may be several such segments
    /// joined by <c>/</c>, such as <c>a/b</c>.
    /// </summary>
    public static bool IsValidRoute(ReadOnlySpan<char> route, bool multiSegment = false)
    {
        if (route.IsEmpty || route.Length > MaxRouteLength)
        {
            return false;
        }

        if (multiSegment)
        {
            foreach (var range in route.Split('/'))
            {
                if (!IsValidSegment(route[range]))
                {
                    return false;
                }
            }

            return true;
        }

        return IsValidSegment(route);
    }

    private static bool IsValidSegment(ReadOnlySpan<char> segment)
    {
        if (segment.IsEmpty || segment is "." or "..")
        {
            return false;
        }

        foreach (var c in segment)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || RouteSymbols.Contains(c)))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Normalises a configured protocol name: <c>cranker_1.0</c>, <c>1.0</c> (any case, surrounding space allowed)
    /// become <c>cranker_1.0</c>; likewise for 3.0. Anything else gives null.
    /// </summary>
    public static string? Normalize(string? name)
    {
        if (name is null)
        {
            return null;
        }

        var v = name.Trim().ToLowerInvariant().Replace("cranker_", "", StringComparison.Ordinal);
        return v switch
        {
            "1.0" => V1,
            "3.0" => V3,
            _ => null,
        };
    }

    /// <summary>
    /// The router's choice (§1.3): the first entry of the connector's subprotocol list (in the connector's order)
    /// that the router supports; failing that, the legacy <c>CrankerProtocol</c> header if its exact value is
    /// supported; otherwise no protocol, and the handshake must be refused.
    /// </summary>
    /// <param name="requestedSubprotocols">Tokens of <c>Sec-WebSocket-Protocol</c>, in order. May be empty.</param>
    /// <param name="legacyHeader">Value of <c>CrankerProtocol</c>, or null when absent.</param>
    /// <param name="supported">Normalised names the router accepts.</param>
    internal static NegotiationResult Negotiate(IReadOnlyList<string> requestedSubprotocols, string? legacyHeader, IReadOnlyCollection<string> supported)
    {
        ArgumentNullException.ThrowIfNull(requestedSubprotocols);
        ArgumentNullException.ThrowIfNull(supported);
        if (requestedSubprotocols.Count == 0 && legacyHeader is null)
        {
            return NegotiationResult.Missing;
        }

        foreach (var token in requestedSubprotocols)
        {
            var version = Normalize(token);
            if (version is not null && supported.Contains(version))
            {
                // Echo the subprotocol only when the connector listed it by its full name (§1.3 ACCEPT).
                var echo = ContainsToken(requestedSubprotocols, version) ? version : null;
                return new NegotiationResult(version, echo, version == V1, null);
            }
        }

        if (legacyHeader is not null && legacyHeader.Trim() == LegacyHeaderValue && supported.Contains(V1))
        {
            return new NegotiationResult(V1, ContainsToken(requestedSubprotocols, V1) ? V1 : null, true, null);
        }

        return NegotiationResult.Unsupported;
    }

    private static bool ContainsToken(IReadOnlyList<string> tokens, string name)
    {
        foreach (var t in tokens)
        {
            if (string.Equals(t.Trim(), name, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>The outcome of <see cref="CrankerProtocol.Negotiate"/>.</summary>
/// <param name="Version">The chosen protocol (<see cref="CrankerProtocol.V1"/> or <see cref="CrankerProtocol.V3"/>), or null if refused.</param>
/// <param name="SubProtocol">The subprotocol to put in the handshake response, or null for none.</param>
/// <param name="SendLegacyHeader">Whether the response carries <c>CrankerProtocol: 1.0</c>.</param>
/// <param name="Error">Why the handshake is refused, for the error response; null when accepted.</param>
internal readonly record struct NegotiationResult(string? Version, string? SubProtocol, bool SendLegacyHeader, string? Error)
{
    /// <summary>The connector offered neither a subprotocol nor the legacy header.</summary>
    public static NegotiationResult Missing =>
        new(null, null, false, "No Cranker protocol offered: send Sec-WebSocket-Protocol (cranker_3.0, cranker_1.0) or CrankerProtocol: 1.0.");

    /// <summary>The connector offered only versions the router does not accept.</summary>
    public static NegotiationResult Unsupported =>
        new(null, null, false, "None of the offered Cranker protocol versions is enabled on this router.");

    /// <summary>True when a version was chosen.</summary>
    public bool Accepted => Version is not null;
}
