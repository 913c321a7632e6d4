using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Putsh.Router.Hosting;

namespace Putsh.Cli.Hosting;

/// <summary>What a listener is for: clients (x), connector registration (y), or both when they share an address.</summary>
[Flags]
internal enum ListenerRole
{
    Clients = 1,
    Registration = 2,

    /// <summary>Health endpoints for probes and load balancers (<c>--admin</c>); never shared with the other roles.</summary>
    Admin = 4,
}

/// <summary>Set on every connection so that one Kestrel server can tell its listeners apart.</summary>
internal sealed class ListenerRoleFeature(ListenerRole role)
{
    public ListenerRole Role { get; } = role;

    public static ListenerRole Of(HttpContext context) =>
        context.Features.Get<ListenerRoleFeature>()?.Role ?? (ListenerRole.Clients | ListenerRole.Registration);
}

/// <summary>Binds the router's listeners on Kestrel from <c>http://</c> and <c>https://</c> addresses.</summary>
internal static class Listeners
{
    /// <summary>Binds every address; returns the listen options of each role, whose endpoints hold the real ports once started.</summary>
    public static BoundListeners Configure(KestrelServerOptions kestrel, IEnumerable<string> clientUrls, IEnumerable<string> registrationUrls, ServerCertificate? certificate, IEnumerable<string>? adminUrls = null, bool askClientCertificates = false, ListenerLimitSettings? limits = null)
    {
        var bound = new BoundListeners();
        var roles = new Dictionary<string, (Uri Uri, ListenerRole Role)>(StringComparer.OrdinalIgnoreCase);
        void Add(string url, ListenerRole role, string flag)
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https") || uri.AbsolutePath != "/")
            {
                throw new UsageException($"{flag}: '{url}' is not an http:// or https:// address such as http://0.0.0.0:8080.");
            }

            if (uri.Scheme == "https" && certificate is null)
            {
                throw new UsageException($"{flag}: '{url}' needs a certificate: give --tls-cert and --tls-key.");
            }

            // Port 0 means "any free port": two such addresses are two listeners, never one shared one.
            var key = uri.GetLeftPart(UriPartial.Authority) + (uri.Port == 0 ? "#" + role : "");
            roles[key] = roles.TryGetValue(key, out var existing) ? (uri, existing.Role | role) : (uri, role);
        }

        foreach (var url in clientUrls)
        {
            Add(url, ListenerRole.Clients, "--listen");
        }

        foreach (var url in registrationUrls)
        {
            Add(url, ListenerRole.Registration, "--register");
        }

        foreach (var url in adminUrls ?? [])
        {
            Add(url, ListenerRole.Admin, "--admin");
        }

        if (roles.Values.FirstOrDefault(r => r.Role.HasFlag(ListenerRole.Admin) && r.Role != ListenerRole.Admin) is { Uri: { } shared })
        {
            throw new UsageException($"--admin: '{shared}' is also a client or registration address; give the admin listener an address of its own.");
        }

        foreach (var (uri, role) in roles.Values)
        {
            // One count per client address, shared by its endpoints (the h2c handoff's with the real one).
            var clientLimiter = limits?.MaxClientConnections is { } maxClients && role.HasFlag(ListenerRole.Clients) ? new ConnectionLimiter(maxClients) : null;

            void ConfigureEndpoint(ListenOptions listen)
            {
                // Clients may speak HTTP/1.1 or HTTP/2 (ALPN over TLS, prior knowledge in cleartext).
                if (uri.Scheme == "https" || !role.HasFlag(ListenerRole.Clients))
                {
                    listen.Protocols = uri.Scheme == "https" ? HttpProtocols.Http1AndHttp2 : HttpProtocols.Http1;
                }

                // Before TLS, so that a connection over a limit costs no handshake. A cleartext client listener counts
                // its connections before it sniffs for HTTP/2 (below), and again once one is handed over as h2c.
                if (clientLimiter is not null && role.HasFlag(ListenerRole.Clients) && (uri.Scheme == "https" || listen.EndPoint is H2cHandoffEndPoint))
                {
                    listen.UsePutshConnectionLimit(clientLimiter);
                }
                else if (limits is not null && role == ListenerRole.Registration)
                {
                    listen.UsePutshRegistrationHandshakeLimits(limits.MaxPendingRegistrations, limits.RegistrationHandshakeTimeout);
                }

                if (uri.Scheme == "https" && askClientCertificates && role.HasFlag(ListenerRole.Registration))
                {
                    // Asked for, not required at the TLS level: the registration endpoint checks the chain against
                    // --registration-client-ca (at the router's clock) and answers a missing or refused certificate
                    // with 401 or 403 and a reason, which a failed handshake could not give.
                    listen.UseHttps(new HttpsConnectionAdapterOptions
                    {
                        ServerCertificateSelector = certificate!.Select,
                        ClientCertificateMode = ClientCertificateMode.AllowCertificate,
                        ClientCertificateValidation = static (_, _, _) => true,
                    });
                }
                else if (uri.Scheme == "https")
                {
                    // Chosen per connection, so that a reloaded certificate serves every new connection.
                    listen.UseHttps(new HttpsConnectionAdapterOptions { ServerCertificateSelector = certificate!.Select });
                }

                var feature = new ListenerRoleFeature(role);
                if (listen.EndPoint is not H2cHandoffEndPoint)
                {
                    bound.Add(role, uri.Scheme, listen);
                }

                listen.Use(next => connection =>
                {
                    connection.Features.Set(feature);
                    return next(connection);
                });
                if (role == ListenerRole.Registration)
                {
                    // Registrations answered below HTTP: an idle connector socket then holds none of Kestrel's
                    // per-request state. Anything else on this listener still goes to the HTTP pipeline.
                    listen.UsePutshRegistrationConnections(limits?.MaxRequestHeadSize ?? 32 * 1024, limits?.MaxRequestHeaders ?? 100);
                }

                if (role.HasFlag(ListenerRole.Clients))
                {
                    // So that a stopping router knows when its last client has gone (RouterDrain).
                    listen.UsePutshClientConnectionTracking();
                }
            }

            var host = uri.Host;
            IPAddress? address = host switch
            {
                "0.0.0.0" or "*" or "+" => IPAddress.Any,
                "[::]" or "::" => IPAddress.IPv6Any,
                _ when host.Equals("localhost", StringComparison.OrdinalIgnoreCase) => IPAddress.Loopback,
                _ => IPAddress.TryParse(host.Trim('[', ']'), out var ip) ? ip : null,
            };
            if (address is null)
            {
                throw new UsageException($"'{uri}': listen on an IP address, 0.0.0.0, [::] or localhost, not a host name.");
            }

            if (uri.Scheme == "http" && role.HasFlag(ListenerRole.Clients))
            {
                // Kestrel alone would serve only HTTP/1.1 here; this port also takes HTTP/2 with prior knowledge.
                kestrel.ListenHttp1AndH2c(new IPEndPoint(address, uri.Port), ConfigureEndpoint,
                    clientLimiter is null ? null : outer => outer.UsePutshConnectionLimit(clientLimiter));
            }
            else
            {
                kestrel.Listen(address, uri.Port, ConfigureEndpoint);
            }
        }

        return bound;
    }

    /// <summary>Whether an address given to a listener is reachable only from this machine (loopback or localhost).</summary>
    public static bool IsLoopback(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri)
        && (uri.Host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip)));

    public static X509Certificate2? LoadCertificate(string? certFile, string? keyFile)
    {
        if (certFile is null && keyFile is null)
        {
            return null;
        }

        if (certFile is null || keyFile is null)
        {
            throw new UsageException("--tls-cert and --tls-key go together: give both PEM files.");
        }

        try
        {
            return X509Certificate2.CreateFromPemFile(certFile, keyFile);
        }
        catch (Exception ex) when (ex is IOException or System.Security.Cryptography.CryptographicException or UnauthorizedAccessException)
        {
            throw new UsageException($"--tls-cert '{certFile}' with --tls-key '{keyFile}': cannot load the certificate: {ex.Message}");
        }
    }
}

/// <summary>The router's listeners by role; after the server starts, their endpoints carry the bound ports.</summary>
internal sealed class BoundListeners
{
    private readonly List<(ListenerRole Role, string Scheme, ListenOptions Options)> _all = [];

    public void Add(ListenerRole role, string scheme, ListenOptions options) => _all.Add((role, scheme, options));

    private readonly List<(string Route, ListenOptions Options)> _tcp = [];

    /// <summary>A <c>--tcp-listen</c> listener of the TCP route <paramref name="route"/>.</summary>
    public void AddTcp(string route, ListenOptions options) => _tcp.Add((route, options));

    /// <summary>Where the first <c>--tcp-listen</c> listener of <paramref name="route"/> is bound (its real port once started).</summary>
    public IPEndPoint? TcpEndPoint(string route) => _tcp.FirstOrDefault(t => t.Route == route).Options?.IPEndPoint;

    /// <summary>The address given for <paramref name="endpoint"/> and the flags that gave it, e.g. <c>http://127.0.0.1:8080 (--listen)</c>.</summary>
    public string Describe(EndPoint endpoint)
    {
        var listener = _all.FirstOrDefault(l => endpoint.Equals(l.Options.IPEndPoint));
        if (listener.Options is null)
        {
            return endpoint.ToString() ?? "an address";
        }

        var flags = new List<string>(2);
        if (listener.Role.HasFlag(ListenerRole.Clients))
        {
            flags.Add("--listen");
        }

        if (listener.Role.HasFlag(ListenerRole.Registration))
        {
            flags.Add("--register");
        }

        if (listener.Role.HasFlag(ListenerRole.Admin))
        {
            flags.Add("--admin");
        }

        return $"{listener.Scheme}://{endpoint} ({string.Join(" and ", flags)})";
    }

    /// <summary>The bound addresses serving <paramref name="role"/>, as http(s) URLs (0.0.0.0 shown as 127.0.0.1).</summary>
    public IReadOnlyList<string> Urls(ListenerRole role) => _all
        .Where(l => l.Role.HasFlag(role))
        .Select(l => l.Options.IPEndPoint is { } ip
            ? $"{l.Scheme}://{(ip.Address.Equals(IPAddress.Any) ? "127.0.0.1" : ip.Address.Equals(IPAddress.IPv6Any) ? "[::1]" : ip.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? "[" + ip.Address + "]" : ip.Address.ToString())}:{ip.Port}"
            : $"{l.Scheme}://localhost")
        .ToList();
}

/// <summary>The certificate of the https:// listeners, replaced when the configuration is reloaded; each new TLS connection gets the current one.</summary>
internal sealed class ServerCertificate(X509Certificate2 initial)
{
    private volatile X509Certificate2 _current = initial;

    public X509Certificate2 Current
    {
        get => _current;
        set => _current = value;
    }

    /// <summary>Kestrel's <see cref="HttpsConnectionAdapterOptions.ServerCertificateSelector"/>.</summary>
    public X509Certificate2 Select(Microsoft.AspNetCore.Connections.ConnectionContext? connection, string? serverName) => _current;
}
