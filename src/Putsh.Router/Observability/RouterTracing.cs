using System.Diagnostics;
using Microsoft.AspNetCore.Http;

namespace Putsh.Router.Observability;

/// <summary>
/// The router's spans (docs/tracing.md): one per proxied request, the child of the server span ASP.NET Core starts (or,
/// where there is none, of the client's <c>traceparent</c>), whose context goes to the connector in the request head in
/// place of the client's, so that the connector's span and the backend's join the same trace. Nothing is created,
/// and no header is touched, unless something listens to <see cref="SourceName"/>.
/// </summary>
public static class RouterTracing
{
    /// <summary>The router's <see cref="ActivitySource"/> name.</summary>
    public const string SourceName = "Putsh.Router";

    internal static readonly ActivitySource Source = new(SourceName);

    /// <summary>Starts the span for a request, or returns null when nothing listens.</summary>
    internal static Activity? Start(HttpContext context)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        ActivityContext parent = default;
        if (Activity.Current is null)
        {
            // No server span (nothing listens to ASP.NET Core's): continue the client's trace ourselves.
            var headers = context.Request.Headers;
            DistributedContextPropagator.Current.ExtractTraceIdAndState(headers, static (carrier, name, out value, out values) =>
            {
                values = null;
                value = ((IHeaderDictionary)carrier!)[name].ToString() is { Length: > 0 } v ? v : null;
            }, out var traceParent, out var traceState);
            ActivityContext.TryParse(traceParent, traceState, isRemote: true, out parent);
        }

        var activity = Source.StartActivity("putsh proxy", ActivityKind.Client, parent);
        activity?.SetTag("http.request.method", RouterMetrics.KnownMethod(context.Request.Method));
        return activity;
    }

    /// <summary>Records how the request ended on its span.</summary>
    internal static void Stop(Activity activity, HttpContext context, in ProxyResult result)
    {
        var status = context.Response.StatusCode;
        activity.SetTag("http.response.status_code", status);
        if (result.Route is { } route)
        {
            activity.DisplayName = "putsh proxy " + route;
            activity.SetTag("http.route", route);
        }

        if (result.Protocol is { } protocol)
        {
            activity.SetTag("putsh.cranker.protocol", protocol);
        }

        if (result.ErrorType is { } error)
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

    /// <summary>The router's span, when the head being built belongs to a request that has one.</summary>
    internal static Activity? Current => Activity.Current is { } current && ReferenceEquals(current.Source, Source) ? current : null;
}
