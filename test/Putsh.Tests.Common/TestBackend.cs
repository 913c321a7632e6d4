using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Putsh.Tests.Common;

/// <summary>A real Kestrel backend on 127.0.0.1 with a free port; the test maps its endpoints.</summary>
public sealed class TestBackend : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestBackend(WebApplication app, Uri uri)
    {
        _app = app;
        Uri = uri;
    }

    public Uri Uri { get; }

    /// <summary>Requests seen, counted before the handler runs.</summary>
    public int RequestCount => Volatile.Read(ref _requests);

    private int _requests;

    /// <summary>Starts a backend on 127.0.0.1; <paramref name="protocols"/> <see cref="Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http2"/> alone makes it an h2c (prior knowledge) server.</summary>
    public static async Task<TestBackend> StartAsync(Action<WebApplication> map, ITestOutputHelper? output = null, int port = 0, Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols? protocols = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        if (output is not null)
        {
            builder.Logging.AddProvider(new XunitLoggerProvider(output, "backend"));
            builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        }

        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = true;
            k.Limits.MaxRequestBodySize = null;
            k.Listen(System.Net.IPAddress.Loopback, port, listen =>
            {
                if (protocols is { } chosen)
                {
                    listen.Protocols = chosen;
                }
            });
        });
        var app = builder.Build();
        TestBackend? self = null;
        app.Use((context, next) =>
        {
            Interlocked.Increment(ref self!._requests);
            return next(context);
        });
        map(app);
        await app.StartAsync().DefaultTimeout();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        self = new TestBackend(app, new Uri(address));
        return self;
    }

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await _app.StopAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
        }

        await _app.DisposeAsync();
    }
}
