using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;

namespace Putsh.FunctionalTests;

/// <summary>The endpoints the functional tests call through the router, on a real backend.</summary>
internal static class Backends
{
    public const int BigHeaderLength = 18 * 1024;

    public static readonly byte[] Gzipped = Gzip("compressed end to end");

    private static byte[] Gzip(string text)
    {
        using var memory = new MemoryStream();
        using (var gzip = new System.IO.Compression.GZipStream(memory, System.IO.Compression.CompressionLevel.Optimal))
        {
            gzip.Write(System.Text.Encoding.UTF8.GetBytes(text));
        }

        return memory.ToArray();
    }

    public static byte[] Pattern(long length)
    {
        var data = new byte[length];
        for (long i = 0; i < length; i++)
        {
            data[i] = (byte)((i * 31) + (i >> 8));
        }

        return data;
    }

    public static void FillPattern(Span<byte> span, long offset)
    {
        for (var i = 0; i < span.Length; i++)
        {
            var p = offset + i;
            span[i] = (byte)((p * 31) + (p >> 8));
        }
    }

    public static string Sha256(ReadOnlySpan<byte> data) => Convert.ToHexString(SHA256.HashData(data));

    public static void Map(WebApplication app, string prefix = "/app")
    {
        app.MapMethods(prefix + "/method", ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"], async (HttpContext c) =>
        {
            c.Response.Headers["x-method"] = c.Request.Method;
            using var reader = new StreamReader(c.Request.Body);
            var body = await reader.ReadToEndAsync();
            await c.Response.WriteAsync($"method={c.Request.Method};body={body}");
        });
        app.MapGet(prefix + "/redirect", (HttpContext c) =>
        {
            c.Response.StatusCode = 302;
            c.Response.Headers.Location = "/elsewhere";
        });
        app.MapGet(prefix + "/gzip", async (HttpContext c) =>
        {
            c.Response.Headers.ContentEncoding = "gzip";
            c.Response.ContentType = "text/plain";
            await c.Response.Body.WriteAsync(Gzipped);
        });
        app.MapGet(prefix + "/nocontent", (HttpContext c) => c.Response.StatusCode = 204);
        app.MapGet(prefix + "/raw", (HttpContext c) => c.Features.Get<IHttpRequestFeature>()!.RawTarget);
        app.MapGet(prefix + "/raw/{**rest}", (HttpContext c) => c.Features.Get<IHttpRequestFeature>()!.RawTarget);
        app.MapGet(prefix + "/headers", (HttpContext c) =>
        {
            c.Response.Headers["x-big"] = new string('r', BigHeaderLength);
            var lines = c.Request.Headers.SelectMany(h => h.Value.Select(v => $"{h.Key.ToLowerInvariant()}: {v}"));
            return string.Join("\n", lines);
        });
        app.MapGet(prefix + "/cookies", (HttpContext c) =>
        {
            c.Response.Headers.Append("Set-Cookie", "a=1; Path=/");
            c.Response.Headers.Append("Set-Cookie", "b=2; Path=/; HttpOnly");
            return "cookies";
        });
        app.MapGet(prefix + "/download", async (HttpContext c, long size, bool chunked) =>
        {
            if (!chunked)
            {
                c.Response.ContentLength = size;
            }

            c.Response.ContentType = "application/octet-stream";
            var chunk = new byte[100_000];
            for (long offset = 0; offset < size; offset += chunk.Length)
            {
                var n = (int)Math.Min(chunk.Length, size - offset);
                FillPattern(chunk.AsSpan(0, n), offset);
                await c.Response.Body.WriteAsync(chunk.AsMemory(0, n));
            }
        });
        app.MapPost(prefix + "/upload", async (HttpContext c) =>
        {
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[64 * 1024];
            long total = 0;
            int n;
            while ((n = await c.Request.Body.ReadAsync(buffer)) > 0)
            {
                sha.AppendData(buffer, 0, n);
                total += n;
            }

            var length = c.Request.ContentLength?.ToString() ?? "none";
            var chunked = c.Request.Headers.TransferEncoding.ToString();
            return $"{total} {Convert.ToHexString(sha.GetHashAndReset())} cl={length} te={chunked}";
        });
    }
}
