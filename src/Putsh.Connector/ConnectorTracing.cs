using System.Diagnostics;
using Putsh.Protocol.Headers;

namespace Putsh.Connector;

/// <summary>
/// The connector's spans (docs/tracing.md): one per request forwarded to the backend, continuing the trace context the
/// router put in the request head. While it is current, the backend call's own <see cref="HttpClient"/> span and the
/// <c>traceparent</c> it sends are its children. Nothing is created, and no header is touched, unless something
/// listens to <see cref="SourceName"/>.
/// </summary>
public static class ConnectorTracing
{
    /// <summary>The connector's <see cref="ActivitySource"/> name.</summary>
    public const string SourceName = "Putsh.Connector";

    internal static readonly ActivitySource Source = new(SourceName);

    /// <summary>Starts the span for a request whose head is <paramref name="head"/>, or returns null when nothing listens.</summary>
    internal static Activity? Start(ParsedRequestHead head, string protocol)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        DistributedContextPropagator.Current.ExtractTraceIdAndState(head.Headers, static (carrier, name, out value, out values) =>
        {
            values = null;
            value = null;
            foreach (var (key, v) in (List<KeyValuePair<string, string>>)carrier!)
            {
                if (key.Equals(name, StringComparison.OrdinalIgnoreCase))
                {
                    value = v;
                    return;
                }
            }
        }, out var traceParent, out var traceState);
        ActivityContext.TryParse(traceParent, traceState, isRemote: true, out var parent);
        var activity = Source.StartActivity("putsh forward", ActivityKind.Server, parent);
        if (activity is not null)
        {
            activity.SetTag("http.request.method", head.Method);
            activity.SetTag("putsh.cranker.protocol", protocol);
        }

        return activity;
    }

    /// <summary>Records how the request ended: the backend's status, or the failure.</summary>
    internal static void Stop(Activity activity, int? status, string? error)
    {
        if (status is { } code)
        {
            activity.SetTag("http.response.status_code", code);
        }

        if (error is not null)
        {
            activity.SetTag("error.type", error);
            activity.SetStatus(ActivityStatusCode.Error, error);
        }
        else if (status >= 500)
        {
            activity.SetStatus(ActivityStatusCode.Error);
        }

        activity.Stop();
    }

    /// <summary>True when a connector span is current, so the backend call's trace headers must be its own, not the router's.</summary>
    internal static bool HasCurrent => Activity.Current is { } current && ReferenceEquals(current.Source, Source);
}
