using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace Putsh.Router.Hosting;

/// <summary>
/// Keeps the client's <c>Connection</c> header as sent. Kestrel replaces a <c>Connection</c> value holding exactly one
/// of <c>keep-alive</c>, <c>close</c> or <c>upgrade</c> with that token alone (so <c>keep-alive, x-hop</c> reads as
/// <c>keep-alive</c>), which would let <c>x-hop</c> through although RFC 9110 §7.6.1 says a proxy must remove it.
/// Kestrel decodes each header value with the encoding its <see cref="KestrelServerOptions.RequestHeaderEncodingSelector"/>
/// picks, before it parses <c>Connection</c>; this encoding, picked for <c>Connection</c> only, notes the value it
/// decodes on the parsing thread, and the first middleware of the pipeline (which runs on that thread before anything
/// awaits) moves it onto the request as a <see cref="RawConnectionHeaderFeature"/>.
/// </summary>
internal sealed class ConnectionHeaderCapture : Encoding
{
    [ThreadStatic]
    private static string? t_captured;

    // Kestrel's own default for header values: UTF-8 (which ASCII is part of), refusing bytes that are not UTF-8.
    private static readonly Encoding s_inner = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static ConnectionHeaderCapture Instance { get; } = new();

    /// <summary>The value decoded last on this thread, taken (so each is used once).</summary>
    public static string? Take()
    {
        var value = t_captured;
        t_captured = null;
        return value;
    }

    /// <summary>Wraps <paramref name="selector"/> so that <c>Connection</c> values are captured and every other header decodes as before.</summary>
    public static Func<string, Encoding?> Wrap(Func<string, Encoding?> selector) =>
        name => name.Equals("Connection", StringComparison.OrdinalIgnoreCase) ? Instance : selector(name);

    public override string GetString(byte[] bytes, int index, int count)
    {
        var value = s_inner.GetString(bytes, index, count);
        t_captured = value;
        return value;
    }

    public override int GetChars(byte[] bytes, int byteIndex, int byteCount, char[] chars, int charIndex)
    {
        var n = s_inner.GetChars(bytes, byteIndex, byteCount, chars, charIndex);
        t_captured = new string(chars, charIndex, n);
        return n;
    }

    public override int GetCharCount(byte[] bytes, int index, int count) => s_inner.GetCharCount(bytes, index, count);

    public override int GetByteCount(char[] chars, int index, int count) => s_inner.GetByteCount(chars, index, count);

    public override int GetBytes(char[] chars, int charIndex, int charCount, byte[] bytes, int byteIndex) => s_inner.GetBytes(chars, charIndex, charCount, bytes, byteIndex);

    public override int GetMaxByteCount(int charCount) => s_inner.GetMaxByteCount(charCount);

    public override int GetMaxCharCount(int byteCount) => s_inner.GetMaxCharCount(byteCount);
}

/// <summary>The client's <c>Connection</c> header value as it was sent, where Kestrel shortened it.</summary>
internal sealed class RawConnectionHeaderFeature(string value)
{
    public string Value { get; } = value;
}

/// <summary>Installs <see cref="ConnectionHeaderCapture"/> on Kestrel and its middleware first in the pipeline.</summary>
internal sealed class ConnectionHeaderCaptureSetup : IConfigureOptions<KestrelServerOptions>, IStartupFilter
{
    public void Configure(KestrelServerOptions options) =>
        options.RequestHeaderEncodingSelector = ConnectionHeaderCapture.Wrap(options.RequestHeaderEncodingSelector);

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use(static (context, next) =>
        {
            // Only a value that still holds what Kestrel left is this request's own; anything else is stale (from a
            // request that Kestrel refused before any middleware ran) and is dropped.
            if (ConnectionHeaderCapture.Take() is { } raw && IsWiderThan(raw, context.Request.Headers.Connection))
            {
                context.Features.Set(new RawConnectionHeaderFeature(raw));
            }

            return next(context);
        });
        next(app);
    };

    private static bool IsWiderThan(string raw, StringValues reported) =>
        reported.Count == 1 && reported[0] is { Length: > 0 } token && raw.Length > token.Length && raw.Contains(token, StringComparison.OrdinalIgnoreCase);
}
