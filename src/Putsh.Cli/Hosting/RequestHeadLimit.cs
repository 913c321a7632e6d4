using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Putsh.Cli.Hosting;

/// <summary>
/// The request-head limits with a reason the client can read. Kestrel answers a head beyond its own limits with a
/// bare 431 and no body; so Kestrel is given twice putsh's limits, as the backstop that stops reading, and this
/// middleware, first in the pipeline, answers a head between the two with a 431 whose one-line body says which limit
/// it passed. Sizes are counted as header lines on the wire: name, <c>": "</c>, value and CRLF.
/// </summary>
internal static class RequestHeadLimit
{
    /// <summary>Kestrel's limits: twice putsh's, so that putsh's own check sees every head it must refuse.</summary>
    public static void ApplyBackstop(KestrelServerLimits limits, int maxHeadSize, int maxHeaders)
    {
        limits.MaxRequestHeadersTotalSize = (int)Math.Min(2L * maxHeadSize, int.MaxValue);
        limits.MaxRequestHeaderCount = (int)Math.Min(2L * maxHeaders, int.MaxValue);
    }

    public static IApplicationBuilder UseRequestHeadLimit(this IApplicationBuilder app, int maxHeadSize, int maxHeaders) =>
        app.Use(next => context =>
        {
            long size = 0;
            var lines = 0;
            foreach (var (name, values) in context.Request.Headers)
            {
                foreach (var value in values)
                {
                    lines++;
                    size += name.Length + (value?.Length ?? 0) + 4;
                }
            }

            if (lines > maxHeaders)
            {
                return RefuseAsync(context, string.Create(CultureInfo.InvariantCulture, $"Request Header Fields Too Large: {lines} header fields, at most {maxHeaders} accepted.\n"));
            }

            if (size > maxHeadSize)
            {
                return RefuseAsync(context, string.Create(CultureInfo.InvariantCulture, $"Request Header Fields Too Large: {size} bytes of header fields, at most {maxHeadSize} accepted.\n"));
            }

            return next(context);
        });

    private static Task RefuseAsync(HttpContext context, string reason)
    {
        var body = Encoding.UTF8.GetBytes(reason);
        var response = context.Response;
        response.StatusCode = StatusCodes.Status431RequestHeaderFieldsTooLarge;
        response.ContentType = "text/plain; charset=utf-8";
        response.ContentLength = body.Length;
        if (HttpProtocol.IsHttp11(context.Request.Protocol) || HttpProtocol.IsHttp10(context.Request.Protocol))
        {
            // Its body may not have been read, and what follows it on the connection is not worth parsing.
            response.Headers.Connection = "close";
        }

        return response.Body.WriteAsync(body, context.RequestAborted).AsTask();
    }
}
