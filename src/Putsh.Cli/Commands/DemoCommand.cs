using System.CommandLine;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Putsh.Cli.Hosting;
using Putsh.Connector;

namespace Putsh.Cli.Commands;

/// <summary>
/// <c>putsh demo</c>: a router, a connector and a small sample backend in one process. The backend listens on
/// loopback only; the connector dials out to the router, which is the only way in.
/// </summary>
internal static class DemoCommand
{
    public const string Route = "hello";

    public static Command Create()
    {
        var settings = RouterCommand.Settings("http://127.0.0.1:8080", "http://127.0.0.1:8081");
        var command = new Command("demo", "Router, connector and a sample backend in one process; prints the URL to try.");
        CommonOptions.AddTo(command, settings);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var (routerSettings, level) = RouterCommand.Resolve(parse, settings, new RouterSettings { Listen = ["http://127.0.0.1:8080"], Register = ["http://127.0.0.1:8081"] });
            using var signals = new ShutdownSignals();
            await RunAsync(routerSettings, level, Console.Out, signals.Stopping);
            return 0;
        });
        return command;
    }

    public static async Task RunAsync(RouterSettings settings, LogLevel level, TextWriter output, CancellationToken cancellationToken)
    {
        await using var backend = BuildBackend(level);
        await backend.StartAsync(cancellationToken);
        var backendUrl = backend.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

        var router = RouterCommand.Build(settings, level, out var listeners);
        await HostStart.StartAsync(router, listeners.Describe, cancellationToken);
        var clientUrl = listeners.Urls(ListenerRole.Clients)[0];
        var registerUrl = "ws" + listeners.Urls(ListenerRole.Registration)[0]["http".Length..];

        var options = new ConnectorOptions { Route = Route, Target = backendUrl, ComponentName = "putsh-demo" };
        options.Routers.Add(registerUrl);
        using var connectorHost = ConnectorCommand.Build(options, level);
        await connectorHost.StartAsync(cancellationToken);

        output.WriteLine();
        output.WriteLine($"putsh demo: the backend at {backendUrl} is reachable only through the router.");
        output.WriteLine($"Try:  curl {clientUrl}/{Route}/");
        output.WriteLine($"      curl -N {clientUrl}/{Route}/events");
        output.WriteLine($"      curl --data-binary @some-file {clientUrl}/{Route}/upload");
        output.WriteLine($"      curl -o /dev/null {clientUrl}/{Route}/download?size=100000000");
        output.WriteLine("Ctrl-C stops it.");
        output.WriteLine();

        try
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, TimeProvider.System, cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }

        // Each host is bounded by its own shutdown timeout; the connector goes first, so the router's drain is short.
        await connectorHost.StopAsync(CancellationToken.None);
        await router.StopAsync(CancellationToken.None);
        await backend.StopAsync(CancellationToken.None);
        await router.DisposeAsync();
    }

    /// <summary>The sample backend: plain text, server-sent events, an upload sink and a download source.</summary>
    internal static WebApplication BuildBackend(LogLevel level)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Configuration.Sources.Clear();
        CommonOptions.ConfigureLogging(builder.Logging, level);
        ShutdownSignals.UseFor(builder.Services);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = null; // uploads of any size are streamed
            k.Listen(System.Net.IPAddress.Loopback, 0);
        });
        var app = builder.Build();
        var time = app.Services.GetService<TimeProvider>() ?? TimeProvider.System;
        app.MapGet("/" + Route + "/events", async (HttpContext context, CancellationToken ct) =>
        {
            context.Response.ContentType = "text/event-stream";
            for (var i = 1; i <= 5 && !ct.IsCancellationRequested; i++)
            {
                await context.Response.WriteAsync($"data: event {i} of 5, sent at {time.GetUtcNow():O}\n\n", ct);
                await context.Response.Body.FlushAsync(ct);
                await Task.Delay(TimeSpan.FromSeconds(1), time, ct);
            }
        });
        app.MapPost("/" + Route + "/upload", async (HttpContext context) =>
        {
            // Streams the body through a hash: any size, constant memory.
            using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
            var buffer = new byte[64 * 1024];
            long total = 0;
            int n;
            while ((n = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
            {
                sha.AppendData(buffer, 0, n);
                total += n;
            }

            await context.Response.WriteAsync($"received {total} bytes, sha256 {Convert.ToHexStringLower(sha.GetHashAndReset())}\n");
        });
        app.MapGet("/" + Route + "/download", async (HttpContext context, long? size) =>
        {
            // size bytes of a repeating pattern (default 1 MiB), written as they are made.
            var remaining = Math.Max(0, size ?? 1024 * 1024);
            context.Response.ContentType = "application/octet-stream";
            context.Response.ContentLength = remaining;
            var buffer = new byte[64 * 1024];
            for (var i = 0; i < buffer.Length; i++)
            {
                buffer[i] = (byte)i;
            }

            while (remaining > 0)
            {
                var n = (int)Math.Min(buffer.Length, remaining);
                await context.Response.Body.WriteAsync(buffer.AsMemory(0, n), context.RequestAborted);
                remaining -= n;
            }
        });
        app.MapFallback(async context =>
        {
            var sb = new StringBuilder();
            sb.Append("Hello from the putsh demo backend.\n");
            sb.Append("You asked for ").Append(context.Request.Method).Append(' ').Append(context.Request.Path).Append(context.Request.QueryString).Append('\n');
            sb.Append("It came through the router with these headers:\n");
            foreach (var (name, value) in context.Request.Headers)
            {
                sb.Append("  ").Append(name).Append(": ").Append(value.ToString()).Append('\n');
            }

            context.Response.ContentType = "text/plain; charset=utf-8";
            await context.Response.WriteAsync(sb.ToString());
        });
        return app;
    }
}
