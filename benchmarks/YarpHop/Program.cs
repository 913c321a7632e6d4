using Yarp.ReverseProxy.Configuration;

// One reverse-proxy hop for the benchmark: every request on --listen goes to --to, with YARP's defaults (its own
// SocketsHttpHandler settings, no response buffering), Kestrel's defaults but for the body size, and warnings-only
// logging.
//   YarpHop --listen http://127.0.0.1:PORT --to http://127.0.0.1:PORT
string? listen = null, to = null;
for (var i = 0; i + 1 < args.Length; i += 2)
{
    switch (args[i])
    {
        case "--listen": listen = args[i + 1]; break;
        case "--to": to = args[i + 1]; break;
        default: break;
    }
}

if (listen is null || to is null)
{
    await Console.Error.WriteLineAsync("usage: YarpHop --listen URL --to URL");
    return 2;
}

var builder = WebApplication.CreateSlimBuilder();
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.WebHost.UseUrls(listen);
// A proxy passes bodies of any size on (Kestrel's default stops at 30 MB), as nginx's client_max_body_size 0 in the hops.
builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = null);
builder.Services.AddReverseProxy().LoadFromMemory(
    [new RouteConfig { RouteId = "all", ClusterId = "backend", Match = new RouteMatch { Path = "{**catch-all}" } }],
    [new ClusterConfig { ClusterId = "backend", Destinations = new Dictionary<string, DestinationConfig> { ["b"] = new() { Address = to } } }]);
var app = builder.Build();
app.MapReverseProxy();
await app.RunAsync();
return 0;
