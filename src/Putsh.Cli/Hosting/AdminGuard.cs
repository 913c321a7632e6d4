using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Putsh.Cli.Hosting;

/// <summary>
/// The admin listener's protection. Bound to loopback it needs nothing; bound anywhere else it needs a bearer token
/// (<c>--admin-token</c>), or the process refuses to start, as with open registration. With a token, every request but
/// the health probes (<c>/health/live</c>, <c>/health/ready</c>, which orchestrators call without credentials) must
/// carry <c>Authorization: Bearer &lt;token&gt;</c>; the comparison takes the same time whatever the guess.
/// </summary>
internal static class AdminGuard
{
    /// <summary>Throws the one-line start-up error when an admin address other machines can reach has no token.</summary>
    public static void CheckBinding(IEnumerable<string> admin, string? token)
    {
        if (string.IsNullOrEmpty(token) && admin.FirstOrDefault(url => !Listeners.IsLoopback(url)) is { } open)
        {
            throw new UsageException($"--admin {open} can be reached from other machines: give --admin-token (or bind the admin listener to 127.0.0.1).");
        }
    }

    /// <summary>Refuses admin requests without the token, when there is one, except the health probes.</summary>
    public static void UseAdminToken(this IApplicationBuilder app, string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return;
        }

        var expected = SHA256.HashData(Encoding.UTF8.GetBytes(token));
        app.Use((context, next) =>
        {
            if (context.Request.Path.StartsWithSegments("/health", StringComparison.Ordinal) || Presents(context, expected))
            {
                return next(context);
            }

            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            context.Response.Headers.WWWAuthenticate = "Bearer realm=\"putsh-admin\"";
            context.Response.Headers.CacheControl = "no-store";
            return context.Response.WriteAsync("The admin listener needs Authorization: Bearer <the --admin-token>.\n");
        });
    }

    private static bool Presents(HttpContext context, byte[] expected)
    {
        var header = context.Request.Headers.Authorization.ToString();
        const string prefix = "Bearer ";
        if (!header.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        // Hashes of equal length compared in constant time: neither the token's length nor its bytes leak.
        var given = SHA256.HashData(Encoding.UTF8.GetBytes(header[prefix.Length..].Trim()));
        return CryptographicOperations.FixedTimeEquals(given, expected);
    }
}
