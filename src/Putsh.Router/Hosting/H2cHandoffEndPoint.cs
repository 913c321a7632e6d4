using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace Putsh.Router.Hosting;

/// <summary>
/// A virtual Kestrel listener that owns no socket: it receives the cleartext HTTP/2 (h2c, prior knowledge)
/// connections that a real TCP listener recognised by their client preface and handed over.
/// </summary>
/// <remarks>
/// Kestrel binds it through <see cref="H2cHandoffConnectionListenerFactory"/>, which must be registered with
/// <see cref="H2cHandoffExtensions.AddH2cHandoff"/>. Normally created by
/// <see cref="H2cHandoffExtensions.ListenHttp1AndH2c"/>; an endpoint can be bound once, and once unbound it refuses
/// further connections. Kestrel lists it among the server addresses as <c>http://h2c-handoff.invalid/{Name}</c>, an
/// address that cannot be dialled (<c>.invalid</c> never resolves).
/// </remarks>
internal sealed class H2cHandoffEndPoint : EndPoint
{
    // Created up front, so a connection that arrives before Kestrel has bound this endpoint waits in the queue.
    private readonly Channel<H2cHandoffConnection> _queue = Channel.CreateUnbounded<H2cHandoffConnection>(
        new UnboundedChannelOptions { SingleReader = false, SingleWriter = false });

    private readonly Func<string> _name;
    private int _bound;

    /// <summary>Creates a handoff endpoint.</summary>
    /// <param name="name">Names the endpoint in logs and server addresses, typically the real listener's address.</param>
    public H2cHandoffEndPoint(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        _name = () => name;
    }

    /// <summary>Creates a handoff endpoint whose name is computed when shown (so it can show a port bound later).</summary>
    internal H2cHandoffEndPoint(Func<string> name) => _name = name;

    /// <summary>The name of the endpoint, typically the address of the real listener that hands connections over.</summary>
    public string Name => _name();

    /// <inheritdoc />
    public override AddressFamily AddressFamily => AddressFamily.Unspecified;

    /// <inheritdoc />
    public override string ToString() => "h2c-handoff.invalid/" + Name;

    internal ChannelReader<H2cHandoffConnection> Queue => _queue.Reader;

    /// <summary>Marks the endpoint bound; false if it already was.</summary>
    internal bool TryBind() => Interlocked.Exchange(ref _bound, 1) == 0;

    /// <summary>Queues a connection for the listener; false once the listener has been unbound.</summary>
    internal bool TryEnqueue(H2cHandoffConnection connection) => _queue.Writer.TryWrite(connection);

    /// <summary>Refuses further connections; queued ones can still be accepted.</summary>
    internal void Complete() => _queue.Writer.TryComplete();
}
