// A minimal API with no listening port: its requests arrive through Cranker routers.
//   dotnet run --project samples/PutshMinimalApi -- --routers ws://127.0.0.1:8081 --route hello
// Several routers: --routers ws://a:8081,ws://b:8081 (or the "routers" key in appsettings.json / environment).
// region: minimal-api
var builder = WebApplication.CreateBuilder(args);
var routers = (builder.Configuration["routers"] ?? "ws://127.0.0.1:8081")
    .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
var route = builder.Configuration["route"] ?? "hello";

builder.WebHost.UsePutshConnector(options =>
{
    foreach (var router in routers)
    {
        options.Routers.Add(router);
    }

    options.Route = route;
});
// endregion

var app = builder.Build();

// Routers forward the whole path, route prefix included: the endpoints live under /{route}.
var api = app.MapGroup(route == "*" ? "" : "/" + route);

api.MapGet("/", (HttpContext context) =>
    $"Hello from a minimal API with no port. You are {context.Connection.RemoteIpAddress}, this is {context.Request.Path.Value}.\n");

api.MapGet("/greet/{name}", (string name, string? greeting) => $"{greeting ?? "Hello"}, {name}!\n");

api.MapPost("/length", async (HttpRequest request, CancellationToken cancellationToken) =>
{
    var buffer = new byte[64 * 1024];
    long length = 0;
    int n;
    while ((n = await request.Body.ReadAsync(buffer, cancellationToken)) > 0)
    {
        length += n;
    }

    return Results.Ok(new { length });
});

app.Run();
