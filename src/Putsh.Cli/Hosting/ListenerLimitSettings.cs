using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Putsh.Cli.Hosting;

/// <summary>
/// The executable's bounds on its listeners: Kestrel's request-head limits (server-wide, so they hold on the
/// registration listener too) and putsh's per-listener connection limits.
/// </summary>
internal sealed class ListenerLimitSettings
{
    /// <summary>Client connections open at once on each client listener; null: no limit.</summary>
    public int? MaxClientConnections { get; set; } = 10_000;

    /// <summary>Largest request head, in bytes of header lines; larger gets 431 with a reason (<see cref="RequestHeadLimit"/>).</summary>
    public int MaxRequestHeadSize { get; set; } = 32 * 1024;

    /// <summary>Most header fields in a request; more gets 431 with a reason (<see cref="RequestHeadLimit"/>).</summary>
    public int MaxRequestHeaders { get; set; } = 100;

    /// <summary>Time allowed to receive a request head (Kestrel's <see cref="KestrelServerLimits.RequestHeadersTimeout"/>).</summary>
    public TimeSpan RequestHeadersTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Slowest request body accepted, in bytes per second after a 5 s grace; 0 for no minimum.</summary>
    public int MinRequestBodyRate { get; set; } = 240;

    /// <summary>Slowest a client may read its response, in bytes per second after a 5 s grace; 0 for no minimum.</summary>
    public int MinResponseRate { get; set; } = 240;

    /// <summary>Connections to a registration listener not yet connector sockets.</summary>
    public int MaxPendingRegistrations { get; set; } = 256;

    /// <summary>Time a registration connection has to become a connector socket.</summary>
    public TimeSpan RegistrationHandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    public void ApplyTo(KestrelServerLimits limits)
    {
        RequestHeadLimit.ApplyBackstop(limits, MaxRequestHeadSize, MaxRequestHeaders);
        limits.RequestHeadersTimeout = RequestHeadersTimeout;
        limits.MinRequestBodyDataRate = MinRequestBodyRate == 0 ? null : new MinDataRate(MinRequestBodyRate, TimeSpan.FromSeconds(5));
        limits.MinResponseDataRate = MinResponseRate == 0 ? null : new MinDataRate(MinResponseRate, TimeSpan.FromSeconds(5));
    }
}
