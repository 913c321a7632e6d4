namespace Putsh.Connector;

/// <summary>A request that arrived through a router, as an in-process handler sees it.</summary>
public sealed class ChannelRequest
{
    internal ChannelRequest(string method, string target, IReadOnlyList<KeyValuePair<string, string>> headers, Stream body)
    {
        Method = method;
        Target = target;
        var q = target.IndexOf('?', StringComparison.Ordinal);
        Path = q < 0 ? target : target[..q];
        Query = q < 0 ? "" : target[q..];
        Headers = headers;
        Body = body;
    }

    /// <summary>The method, as the client sent it.</summary>
    public string Method { get; }

    /// <summary>The request target: still percent-encoded path and query.</summary>
    public string Target { get; }

    /// <summary>The percent-encoded path, including the route prefix.</summary>
    public string Path { get; }

    /// <summary>The raw query string, with its leading <c>?</c>, or empty.</summary>
    public string Query { get; }

    /// <summary>The request headers as the router forwarded them (including <c>via</c> and <c>forwarded</c>), one entry per value.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; }

    /// <summary>The request body, streamed as it arrives (empty when there is none).</summary>
    public Stream Body { get; }

    /// <summary>The first value of a header, or null.</summary>
    public string? Header(string name)
    {
        foreach (var (key, value) in Headers)
        {
            if (key.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return value;
            }
        }

        return null;
    }
}
