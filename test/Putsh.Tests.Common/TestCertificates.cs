using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Putsh.Tests.Common;

/// <summary>
/// A throw-away certificate authority in a temporary folder: issues server and client certificates (P-256, so quick to
/// make) and writes them as PEM files, for tests of TLS listeners and mutual TLS.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1");
    private static readonly Oid ClientAuth = new("1.3.6.1.5.5.7.3.2");

    private readonly X509Certificate2 _ca;

    public TestCertificates(string name = "putsh test CA")
    {
        Folder = Directory.CreateTempSubdirectory("putsh-certs-").FullName;
        _ca = CreateAuthority(name);
        CaFile = Write("ca", _ca, withKey: false).CertFile;
    }

    /// <summary>The folder the PEM files are written to; deleted on dispose.</summary>
    public string Folder { get; }

    /// <summary>The CA certificate, PEM.</summary>
    public string CaFile { get; }

    /// <summary>A server certificate for 127.0.0.1 and localhost.</summary>
    public (string CertFile, string KeyFile) Server(string fileName = "server")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([ServerAuth], false));
        using var certificate = Issue(request, key, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return Write(fileName, certificate, withKey: true);
    }

    /// <summary>A client certificate with common name <paramref name="commonName"/> and the given DNS names, valid from <paramref name="notBefore"/> to <paramref name="notAfter"/>.</summary>
    public (string CertFile, string KeyFile) Client(string fileName, string commonName, string[]? dnsNames = null, DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        if (dnsNames is { Length: > 0 })
        {
            var san = new SubjectAlternativeNameBuilder();
            foreach (var dns in dnsNames)
            {
                san.AddDnsName(dns);
            }

            request.CertificateExtensions.Add(san.Build());
        }

        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([ClientAuth], false));
        using var certificate = Issue(request, key, notBefore ?? DateTimeOffset.UtcNow.AddDays(-1), notAfter ?? DateTimeOffset.UtcNow.AddDays(1));
        return Write(fileName, certificate, withKey: true);
    }

    /// <summary>Loads a certificate and its key written by this class.</summary>
    public static X509Certificate2 Load((string CertFile, string KeyFile) files) => X509Certificate2.CreateFromPemFile(files.CertFile, files.KeyFile);

    private static X509Certificate2 CreateAuthority(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-30), DateTimeOffset.UtcNow.AddDays(30));
    }

    private X509Certificate2 Issue(CertificateRequest request, ECDsa key, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_ca, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        var serial = RandomNumberGenerator.GetBytes(12);
        serial[0] &= 0x7F;
        using var issued = request.Create(_ca, notBefore, notAfter, serial);
        return issued.CopyWithPrivateKey(key);
    }

    private (string CertFile, string KeyFile) Write(string fileName, X509Certificate2 certificate, bool withKey)
    {
        var certFile = Path.Combine(Folder, fileName + ".pem");
        File.WriteAllText(certFile, certificate.ExportCertificatePem());
        var keyFile = Path.Combine(Folder, fileName + ".key");
        if (withKey)
        {
            File.WriteAllText(keyFile, certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        }

        return (certFile, keyFile);
    }

    public void Dispose()
    {
        _ca.Dispose();
        Directory.Delete(Folder, recursive: true);
    }
}
