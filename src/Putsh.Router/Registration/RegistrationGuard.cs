using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Putsh.Protocol;

namespace Putsh.Router.Registration;

/// <summary>What a registration's credentials allow: refused (a status and a reason) or accepted for some routes.</summary>
internal readonly record struct RegistrationVerdict(int Status, string? Reason, string? Challenge, string[]? Routes)
{
    public bool Accepted => Status == 0;

    /// <summary>Accepted for any route (no credential bound it to some).</summary>
    public static RegistrationVerdict Any { get; } = new(0, null, null, null);

    public bool Permits(string route) => Routes is null || Array.IndexOf(Routes, route) >= 0;
}

/// <summary>The parts of registration security read from options once: tokens given inline, the allow-list and the CA.</summary>
internal sealed record RegistrationSecrets(RegistrationTokens InlineTokens, RegistrationTokens FileTokens, byte[] FileDigest, IPNetwork[] Allow, X509Certificate2Collection? ClientCa);

/// <summary>
/// Decides whether a registration or deregistration may go on, in this order: the source address against
/// <see cref="RouterOptions.RegistrationAllow"/>; loopback-only when nothing else is configured (unless
/// <see cref="RouterOptions.AllowOpenRegistration"/>); the client certificate against
/// <see cref="RouterOptions.RegistrationClientCa"/>; the bearer token. Every configured check must pass, and the
/// routes allowed are those every credential allows. Refusals are logged once a minute per source and reason.
/// </summary>
internal sealed class RegistrationGuard : IDisposable
{
    /// <summary>The <c>WWW-Authenticate</c> realm of the registration endpoints.</summary>
    public const string Realm = "putsh registration";

    private const int MaxRememberedRefusals = 4096;
    private static readonly TimeSpan RefusalLogInterval = TimeSpan.FromMinutes(1);

    private readonly RouterOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private volatile RegistrationTokens _inline;
    private readonly IPNetwork[] _allow;
    private readonly X509Certificate2Collection? _clientCa;
    private readonly bool _tokensRequired;
    private readonly ITimer? _fileTimer;
    private readonly ConcurrentDictionary<(string Source, string Reason), long> _refusalsLogged = new();
    private readonly Lock _reloadLock = new();
    private volatile RegistrationTokens _fileTokens;
    private byte[] _fileDigest;

    public RegistrationGuard(IOptions<RouterOptions> options, TimeProvider time, ILogger<RegistrationGuard> logger)
    {
        _options = options.Value;
        _time = time;
        _logger = logger;
        var secrets = LoadStatic(_options);
        _inline = secrets.InlineTokens;
        _fileTokens = secrets.FileTokens;
        _fileDigest = secrets.FileDigest;
        _allow = secrets.Allow;
        _clientCa = secrets.ClientCa;
        _tokensRequired = _options.RegistrationTokens.Count > 0 || _options.RegistrationTokenFile is not null;
        if (_options.RegistrationTokenFile is not null)
        {
            var interval = _options.RegistrationTokenFileCheckInterval;
            _fileTimer = time.CreateTimer(static state => ((RegistrationGuard)state!).ReloadTokenFile(), this, interval, interval);
        }
    }

    /// <summary>
    /// Puts <paramref name="tokens"/> in force in place of the inline tokens (a configuration reload); throws
    /// <see cref="ArgumentException"/> for a malformed one, never naming it. Returns false, changing nothing, for a
    /// router that started without tokens: that one needs a restart to begin requiring them.
    /// </summary>
    internal bool ReplaceInlineTokens(IEnumerable<string> tokens)
    {
        var parsed = RegistrationTokens.Parse(tokens, nameof(RouterOptions.RegistrationTokens));
        if (!_tokensRequired)
        {
            return false;
        }

        _inline = parsed;
        return true;
    }

    /// <summary>Tokens in force now: inline and from the file.</summary>
    public int TokenCount => _inline.Count + _fileTokens.Count;

    /// <summary>
    /// Reads and checks what the options name (tokens, token file, addresses, CA file); throws
    /// <see cref="ArgumentException"/> with one line naming the option, never a token, when something is wrong.
    /// </summary>
    public static RegistrationSecrets LoadStatic(RouterOptions options)
    {
        RegistrationTokens inline;
        try
        {
            inline = RegistrationTokens.Parse(options.RegistrationTokens, nameof(RouterOptions.RegistrationTokens));
        }
        catch (FormatException ex)
        {
            throw new ArgumentException(ex.Message);
        }

        var fileTokens = RegistrationTokens.Empty;
        byte[] digest = [];
        if (options.RegistrationTokenFile is { } file)
        {
            try
            {
                var bytes = File.ReadAllBytes(file);
                fileTokens = ParseFile(bytes, file);
                digest = SHA256.HashData(bytes);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
            {
                throw new ArgumentException(ex is FormatException
                    ? $"Registration token file {ex.Message}"
                    : $"Registration token file '{file}' cannot be read: {ex.Message}");
            }
        }

        var allow = new IPNetwork[options.RegistrationAllow.Count];
        for (var i = 0; i < allow.Length; i++)
        {
            allow[i] = ParseNetwork(options.RegistrationAllow[i]);
        }

        X509Certificate2Collection? ca = null;
        if (options.RegistrationClientCa is { } caFile)
        {
            ca = [];
            try
            {
                ca.ImportFromPemFile(caFile);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException)
            {
                throw new ArgumentException($"Registration client CA '{caFile}' cannot be read: {ex.Message}");
            }

            if (ca.Count == 0)
            {
                throw new ArgumentException($"Registration client CA '{caFile}' holds no PEM certificate.");
            }
        }

        return new RegistrationSecrets(inline, fileTokens, digest, allow, ca);
    }

    private static RegistrationTokens ParseFile(byte[] bytes, string file)
    {
        var text = System.Text.Encoding.UTF8.GetString(bytes);
        return RegistrationTokens.Parse(text.Split('\n'), $"'{file}'");
    }

    /// <summary>Parses <c>10.0.0.0/8</c>, <c>192.168.1.7</c> or <c>fd00::/8</c>; throws <see cref="ArgumentException"/> otherwise.</summary>
    internal static IPNetwork ParseNetwork(string text, string option = "RegistrationAllow")
    {
        var value = text.Trim();
        if (IPNetwork.TryParse(value, out var network))
        {
            return network;
        }

        if (IPAddress.TryParse(value.Trim('[', ']'), out var address))
        {
            address = Canonical(address);
            return new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128);
        }

        throw new ArgumentException($"{option}: '{text}' is not an IP address or a CIDR range such as 10.0.0.0/8.");
    }

    internal static IPAddress Canonical(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    /// <summary>Checks the credentials of a registration or deregistration request.</summary>
    public RegistrationVerdict Check(HttpContext context) =>
        Check(context.Connection.RemoteIpAddress, context.Connection.ClientCertificate, context.Request.Headers.Authorization.ToString());

    /// <summary>Checks the credentials of a request from <paramref name="remoteAddress"/> (null: not over a network).</summary>
    public RegistrationVerdict Check(IPAddress? remoteAddress, X509Certificate2? clientCertificate, string authorization)
    {
        var remote = remoteAddress is { } ip ? Canonical(ip) : null;

        // 1. The address allow-list, before anything else is looked at.
        if (_allow.Length > 0 && (remote is null || !Contains(_allow, remote)))
        {
            return Refuse(StatusCodes.Status403Forbidden, "this address may not register connectors (RegistrationAllow)");
        }

        // 2. Nothing configured: open to loopback only, unless the operator said otherwise. A request with no remote
        // address did not come over a network (an in-memory server).
        if (!_options.RegistrationIsGuarded && !_options.AllowOpenRegistration && remote is not null && !IPAddress.IsLoopback(remote))
        {
            return Refuse(StatusCodes.Status403Forbidden, "registration from other machines needs a registration token, client CA or address allow-list on the router (or AllowOpenRegistration)");
        }

        string[]? routes = null;

        // 3. The client certificate.
        if (_clientCa is not null)
        {
            var certificate = clientCertificate;
            if (certificate is null)
            {
                return Refuse(StatusCodes.Status401Unauthorized, "a client certificate is required");
            }

            if (ChainError(certificate) is { } error)
            {
                return Refuse(StatusCodes.Status403Forbidden, $"the client certificate is not accepted ({error})");
            }

            if (_options.RegistrationClientCertRoutes)
            {
                routes = CertificateRoutes(certificate);
            }
        }

        // 4. The bearer token.
        if (_tokensRequired)
        {
            if (authorization.Length == 0)
            {
                return Refuse(StatusCodes.Status401Unauthorized, "a registration token is required (Authorization: Bearer <token>)", $"Bearer realm=\"{Realm}\", error_description=\"a registration token is required\"");
            }

            const string scheme = "Bearer ";
            var presented = authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) ? authorization.AsSpan(scheme.Length).Trim() : default;
            // Both sets are always searched, so the time taken does not tell which one holds the token.
            var inline = _inline.TryMatch(presented, out var inlineRoutes);
            var fromFile = _fileTokens.TryMatch(presented, out var fileRoutes);
            if (presented.IsEmpty || !(inline || fromFile))
            {
                return Refuse(StatusCodes.Status403Forbidden, "the registration token is not valid", $"Bearer realm=\"{Realm}\", error=\"invalid_token\", error_description=\"the registration token is not valid\"");
            }

            routes = Intersect(routes, inline ? inlineRoutes : fileRoutes);
        }

        return routes is null ? RegistrationVerdict.Any : new RegistrationVerdict(0, null, null, routes);
    }

    /// <summary>A refusal for a route the credentials do not cover.</summary>
    public static RegistrationVerdict RouteNotPermitted(string route) =>
        new(StatusCodes.Status403Forbidden, $"the credentials presented may not register route '{route}'", $"Bearer realm=\"{Realm}\", error=\"insufficient_scope\", error_description=\"the credentials presented may not register route {route}\"", null);

    private static RegistrationVerdict Refuse(int status, string reason, string? challenge = null) => new(status, reason, challenge, null);

    internal static bool Contains(IPNetwork[] networks, IPAddress address)
    {
        foreach (var network in networks)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    private static string[]? Intersect(string[]? a, string[]? b) =>
        a is null ? b : b is null ? a : a.Intersect(b, StringComparer.Ordinal).ToArray();

    private string? ChainError(X509Certificate2 certificate)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_clientCa!);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = _time.GetUtcNow().UtcDateTime;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        // A certificate that names its uses must name client authentication.
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.2"));
        if (chain.Build(certificate))
        {
            return null;
        }

        var flags = chain.ChainStatus.Aggregate(X509ChainStatusFlags.NoError, (all, s) => all | s.Status);
        return flags switch
        {
            _ when (flags & (X509ChainStatusFlags.PartialChain | X509ChainStatusFlags.UntrustedRoot)) != 0 => "not issued by the registration CA",
            _ when (flags & X509ChainStatusFlags.NotTimeValid) != 0 => "expired or not yet valid",
            _ when (flags & X509ChainStatusFlags.NotValidForUsage) != 0 => "not valid for client authentication",
            _ => flags.ToString(),
        };
    }

    private static string[]? CertificateRoutes(X509Certificate2 certificate)
    {
        var names = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().SelectMany(e => e.EnumerateDnsNames()).ToList();
        if (names.Count == 0 && certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false) is { Length: > 0 } cn)
        {
            names.Add(cn);
        }

        return names.Contains(CrankerProtocol.CatchAll) ? null : [.. names];
    }

    /// <summary>Logs a refusal, at most once a minute for each source address and reason.</summary>
    public void LogRefusal(string remote, int status, string reason)
    {
        var now = _time.GetTimestamp();
        var key = (remote, reason);
        if (_refusalsLogged.TryGetValue(key, out var last) && _time.GetElapsedTime(last, now) < RefusalLogInterval)
        {
            return;
        }

        if (_refusalsLogged.Count >= MaxRememberedRefusals)
        {
            // A flood from many addresses: forget them all rather than grow; the worst case is one line per source again.
            _refusalsLogged.Clear();
        }

        _refusalsLogged[key] = now;
        RouterLog.RegistrationRefused(_logger, remote, status, reason);
    }

    private void ReloadTokenFile()
    {
        var file = _options.RegistrationTokenFile!;
        lock (_reloadLock)
        {
            byte[] bytes;
            try
            {
                bytes = File.ReadAllBytes(file);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Said once, not every interval; the file is parsed again whenever it can be read.
                if (_fileDigest.Length != 0)
                {
                    RouterLog.TokenFileUnusable(_logger, file, ex.Message, _fileTokens.Count);
                }

                _fileDigest = [];
                return;
            }

            var digest = SHA256.HashData(bytes);
            if (digest.AsSpan().SequenceEqual(_fileDigest))
            {
                return;
            }

            _fileDigest = digest;
            try
            {
                _fileTokens = ParseFile(bytes, file);
                RouterLog.TokenFileReloaded(_logger, file, _fileTokens.Count);
            }
            catch (FormatException ex)
            {
                RouterLog.TokenFileUnusable(_logger, file, ex.Message, _fileTokens.Count);
            }
        }
    }

    public void Dispose() => _fileTimer?.Dispose();
}
