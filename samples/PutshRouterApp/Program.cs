// An ASP.NET Core app that is also a router: connectors register and clients are served on the app's own port,
// next to the app's own endpoints. The README's "Using the libraries" shows this file.
//   dotnet run --project samples/PutshRouterApp -- --urls http://127.0.0.1:8080
//   dotnet run --project samples/PutshMinimalApi -- --router ws://127.0.0.1:8080 --route hello
//   curl http://127.0.0.1:8080/healthz; curl http://127.0.0.1:8080/hello/

// region: router
var builder = WebApplication.CreateBuilder(args);

// Options from the "Putsh" section of appsettings.json, the environment (Putsh__SocketAcquireTimeout) or the command line.
builder.Services.AddPutshRouter(builder.Configuration.GetSection("Putsh"));

var app = builder.Build();
app.MapGet("/healthz", () => "ok");   // the app's own endpoints win over the proxy's catch-all
app.MapPutshRegistration();           // /register and /deregister for connectors
app.MapPutshProxy();                  // everything else goes to a connector of its route
app.Run();
// endregion
