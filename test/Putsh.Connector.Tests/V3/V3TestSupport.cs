using System.Net;
using System.Net.Sockets;
using Putsh.Tests.Common;

namespace Putsh.Connector.Tests.V3;

/// <summary>Small helpers shared by the cranker_3.0 connector tests.</summary>
internal static class V3TestSupport
{
    /// <summary>The route the test connectors register; the fake router does not route, so it only labels requests.</summary>
    public const string Route = "svc";

    /// <summary>A loopback port nothing listens on (for "target down").</summary>
    public static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>Deterministic pseudo-random bytes.</summary>
    public static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>An ASCII string of <paramref name="length"/> characters, a..z repeated.</summary>
    public static string Letters(int length) => string.Create(length, 0, static (span, _) =>
    {
        for (var i = 0; i < span.Length; i++)
        {
            span[i] = (char)('a' + (i % 26));
        }
    });

    /// <summary>Byte-exact comparison that reports lengths and the first difference instead of dumping megabytes.</summary>
    public static void AssertSameBytes(byte[] expected, byte[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        var mismatch = expected.AsSpan().CommonPrefixLength(actual);
        Assert.True(mismatch == expected.Length, $"bytes differ first at offset {mismatch}");
    }
}

/// <summary>Disposes a test's connector with a time limit, before the router and backend it talks to.</summary>
internal sealed class ConnectorDisposer(CrankerConnector connector) : IAsyncDisposable
{
    public async ValueTask DisposeAsync() => await connector.DisposeAsync().AsTask().DefaultTimeout();
}
