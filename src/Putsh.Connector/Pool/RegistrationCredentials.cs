using System.Security.Cryptography.X509Certificates;

namespace Putsh.Connector.Pool;

/// <summary>
/// What a connector presents to routers: the bearer token (inline, or from a file that is read again when it changes)
/// and the client certificate for mutual TLS. One instance per connector, shared by all its router registrations.
/// </summary>
internal sealed class RegistrationCredentials
{
    private static readonly TimeSpan FileCheckInterval = TimeSpan.FromSeconds(2);

    private readonly string? _tokenFile;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private string? _token;
    private long _checkedAt;
    private DateTime _fileWrittenAt;
    private long _fileLength = -1;

    public RegistrationCredentials(ConnectorOptions options, TimeProvider time)
    {
        _time = time;
        _token = options.Token;
        _tokenFile = options.TokenFile;
        if (_tokenFile is not null)
        {
            _token = ReadTokenFile(_tokenFile) ?? throw new ArgumentException($"Token file '{_tokenFile}' holds no token.");
            _checkedAt = time.GetTimestamp();
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
    public string? AuthorizationHeader
    {
        get
        {
            var token = CurrentToken();
            return token is null ? null : "Bearer " + token;
        }
    }

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

    private string? CurrentToken()
    {
        if (_tokenFile is null)
        {
            return _token;
        }

        lock (_lock)
        {
            if (_time.GetElapsedTime(_checkedAt) >= FileCheckInterval)
            {
                _checkedAt = _time.GetTimestamp();
                try
                {
                    var info = new FileInfo(_tokenFile);
                    if (info.Exists && (info.LastWriteTimeUtc != _fileWrittenAt || info.Length != _fileLength))
                    {
                        // A file caught half-written, or emptied, keeps the token already known.
                        _token = ReadTokenFile(_tokenFile) ?? _token;
                    }
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
                {
                    // Unreadable for now (being replaced, or not a usable token): keep the token already known.
                }
            }

            return _token;
        }
    }

    private string? ReadTokenFile(string path)
    {
        var info = new FileInfo(path);
        _fileWrittenAt = info.LastWriteTimeUtc;
        _fileLength = info.Length;
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
}
