namespace Putsh.Protocol.Diagnostics;

/// <summary>Values router and connector both tag their telemetry with, and the trace headers they both replace.</summary>
internal static class TelemetryValues
{
    /// <summary>Boxed status codes, so that tagging a measurement with one allocates nothing (a tag value is an object).</summary>
    private static readonly object[] s_statusCodes = Enumerable.Range(0, 1000).Select(static i => (object)i).ToArray();

    public static object BoxedStatusCode(int status) => (uint)status < (uint)s_statusCodes.Length ? s_statusCodes[status] : status;

    /// <summary>W3C trace context, baggage and the older correlation headers: replaced by a span's own where one is current.</summary>
    public static bool IsTraceContextHeader(string name) =>
        name.Equals("traceparent", StringComparison.OrdinalIgnoreCase) || name.Equals("tracestate", StringComparison.OrdinalIgnoreCase)
        || name.Equals("baggage", StringComparison.OrdinalIgnoreCase) || name.Equals("request-id", StringComparison.OrdinalIgnoreCase)
        || name.Equals("correlation-context", StringComparison.OrdinalIgnoreCase);
}
