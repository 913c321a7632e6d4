using System.Text;

namespace Putsh.Benchmarks;

/// <summary>The heads the benchmarks encode and decode: realistic, and fixed so that runs compare.</summary>
internal static class Samples
{
    /// <summary>A browser GET as the router sends it over cranker_3.0: 10 headers, about 400 bytes.</summary>
    public const string RequestHead =
        "GET /shop/items?page=2 HTTP/1.1\n"
        + "Host:shop.example.com\n"
        + "User-Agent:Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36\n"
        + "Accept:text/html,application/xhtml+xml,*/*;q=0.8\n"
        + "Accept-Encoding:gzip, deflate, br\n"
        + "Accept-Language:en-GB,en;q=0.9\n"
        + "Cookie:session=7f3c2a9e41b84d0c\n"
        + "Referer:https://shop.example.com/shop\n"
        + "Upgrade-Insecure-Requests:1\n"
        + "via:HTTP/1.1 putsh\n"
        + "forwarded:by=10.0.0.4;for=198.51.100.23;host=shop.example.com;proto=https\n"
        + "\n";

    /// <summary>A typical backend response head as the connector sends it: 10 headers.</summary>
    public const string ResponseHead =
        "HTTP/1.1 200 OK\n"
        + "date:Tue, 03 Mar 2026 09:00:00 GMT\n"
        + "cache-control:private, max-age=0\n"
        + "vary:Accept-Encoding\n"
        + "etag:\"5d8c72a5edda8\"\n"
        + "set-cookie:session=7f3c2a9e41b84d0c; Path=/; HttpOnly; Secure\n"
        + "set-cookie:theme=dark; Path=/\n"
        + "x-request-id:0HN6R1JQ2K3L4:00000001\n"
        + "strict-transport-security:max-age=31536000\n"
        + "content-type:text/html; charset=utf-8\n"
        + "content-length:18342\n";

    /// <summary>A request head of exactly 40,000 characters (a very large cookie), so three HEADER pieces.</summary>
    public static readonly string LargeRequestHead = BuildLarge();

    private static string BuildLarge()
    {
        var start = "GET /big HTTP/1.1\nHost:shop.example.com\nCookie:";
        var sb = new StringBuilder(start);
        while (sb.Length < 40000 - 2)
        {
            sb.Append(sb.Length % 97 == 0 ? ';' : (char)('a' + sb.Length % 26));
        }

        return sb.Append("\n\n").ToString();
    }
}
