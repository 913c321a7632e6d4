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
        // §1.2: the path is resolved from the root, as every Cranker connector does, unless the router's address has
        // a path of its own (a router mapped under a prefix, MapGroup("/putsh").MapPutshRegistration()): then below
        // it. Values are form-encoded with %20 for spaces.
        new(BaseUri.GetLeftPart(UriPartial.Authority) + BaseUri.AbsolutePath.TrimEnd('/') + path
            + "?connectorInstanceID=" + Uri.EscapeDataString(options.InstanceId)
            + "&componentName=" + Uri.EscapeDataString(options.ComponentName));
}
