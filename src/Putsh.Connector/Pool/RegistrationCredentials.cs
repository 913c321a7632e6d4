using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Putsh.Connector.Pool;

/// <summary>
/// What a connector presents to routers: the bearer token (inline, or from a file read again every two seconds)
/// and the client certificate for mutual TLS. One instance per connector, shared by all its router registrations.
/// </summary>
internal sealed class RegistrationCredentials : IDisposable
{
    /// <summary>How often the token file is read again.</summary>
    internal static readonly TimeSpan FileCheckInterval = TimeSpan.FromSeconds(2);

    private readonly string? _tokenFile;
    private readonly ILogger _logger;
    private readonly ITimer? _timer;
    private volatile string? _token;

    public RegistrationCredentials(ConnectorOptions options, TimeProvider time, ILogger? logger = null)
    {
        _logger = logger ?? NullLogger.Instance;
        _token = options.Token;
        _tokenFile = options.TokenFile;
        if (_tokenFile is not null)
        {
            _token = ReadTokenFile(_tokenFile) ?? throw new ArgumentException($"Token file '{_tokenFile}' holds no token.");
            if (logger is not null)
            {
                _timer = time.CreateTimer(static s => ((RegistrationCredentials)s!).CheckTokenFile(), this, FileCheckInterval, FileCheckInterval);
            }
        }

        if (options.ClientCertificateFile is not null && options.ClientKeyFile is not null)
        {
            try
            {
                ClientCertificate = X509Certificate2.CreateFromPemFile(options.ClientCertificateFile, options.ClientKeyFile);
            }
            catch (Exception ex) when (ex is System.Security.Cryptography.CryptographicException or ArgumentException or IOException)
            {
                throw new ArgumentException($"Cannot load the client certificate '{options.ClientCertificateFile}' with key '{options.ClientKeyFile}': {ex.Message}");
            }
        }
    }

    /// <summary>The certificate offered to routers that ask for one, or null.</summary>
    public X509Certificate2? ClientCertificate { get; }

    /// <summary>The <c>Authorization</c> header value to send, or null when no token is configured.</summary>
    public string? AuthorizationHeader => _token is { } token ? "Bearer " + token : null;

    /// <summary>A token is sent in an HTTP header as <c>Bearer</c> credentials: visible ASCII with no spaces.</summary>
    public static bool IsValidToken(string token)
    {
        if (token.Length == 0)
        {
            return false;
        }

        foreach (var c in token)
        {
            if (c is <= ' ' or > '~')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Reads the token file again; a new token is used by the next socket dialled. Sockets open stay open.</summary>
    internal void CheckTokenFile()
    {
        string? token;
        try
        {
            token = ReadTokenFile(_tokenFile!);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            // Being replaced, or not a usable token: keep the one already known.
            return;
        }

        // An emptied file (caught half-written) also keeps the token already known.
        if (token is not null && !string.Equals(token, _token, StringComparison.Ordinal))
        {
            _token = token;
            ConnectorLog.TokenFileReloaded(_logger, _tokenFile!);
        }
    }

    private static string? ReadTokenFile(string path)
    {
        foreach (var line in File.ReadLines(path))
        {
            var token = line.Trim();
            if (token.Length == 0 || token.StartsWith('#'))
            {
                continue;
            }

            if (!IsValidToken(token))
            {
                throw new ArgumentException($"Token file '{path}': the token must be visible ASCII with no spaces.");
            }

            return token;
        }

        return null;
    }

    public void Dispose() => _timer?.Dispose();
}
