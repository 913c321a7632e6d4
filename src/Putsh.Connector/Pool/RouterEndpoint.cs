using System.Net;

namespace Putsh.Connector.Pool;

/// <summary>
/// One router to register with: the configured address, and when its host name resolved to several addresses,
/// the one address this endpoint dials (§1.10). Dialling a pinned address while keeping the host name in the URI
/// keeps the <c>Host</c> header, TLS SNI and certificate name checks about the name, not the IP.
/// </summary>
internal sealed record RouterEndpoint(Uri BaseUri, IPAddress? PinnedAddress)
{
    public string Name => PinnedAddress is null ? BaseUri.GetLeftPart(UriPartial.Authority) : $"{BaseUri.GetLeftPart(UriPartial.Authority)} ({PinnedAddress})";

    public Uri RegisterUri(ConnectorOptions options) => Build("/register/", options);

    public Uri DeregisterUri(ConnectorOptions options) => Build("/deregister/", options);

    private Uri Build(string path, ConnectorOptions options) =>
        // §1.2: the path is resolved from the root; values are form-encoded with %20 for spaces.
        new(BaseUri.GetLeftPart(UriPartial.Authority) + path
            + "?connectorInstanceID=" + Uri.EscapeDataString(options.InstanceId)
            + "&componentName=" + Uri.EscapeDataString(options.ComponentName));
}
