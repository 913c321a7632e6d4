namespace Putsh.Protocol.Diagnostics;

/// <summary>Values router and connector both tag their telemetry with.</summary>
internal static class TelemetryValues
{
    /// <summary>Boxed status codes, so that tagging a measurement with one allocates nothing (a tag value is an object).</summary>
    private static readonly object[] s_statusCodes = Enumerable.Range(0, 1000).Select(static i => (object)i).ToArray();

    public static object BoxedStatusCode(int status) => (uint)status < (uint)s_statusCodes.Length ? s_statusCodes[status] : status;
}
