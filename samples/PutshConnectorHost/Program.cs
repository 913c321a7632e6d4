// Connectors in a Generic Host: they start with the host and stop gracefully with it (deregister, drain).
//   dotnet run --project samples/PutshConnectorHost -- --Putsh:Routers:0 ws://127.0.0.1:8081 --Putsh:Target http://127.0.0.1:3000
// The README's "Using the libraries" shows this file.

// region: host
var builder = Host.CreateApplicationBuilder(args);

// The host's connector, from the "Putsh" section (keys are ConnectorOptions' property names: Routers, Route, Target, ...).
builder.Services.AddPutshConnector(builder.Configuration.GetSection("Putsh"));

// More connectors in the same host each get a name: a keyed CrankerConnector with options of its own.
builder.Services.AddPutshConnector("reports", o =>
{
    o.Routers.Add(builder.Configuration["Putsh:Routers:0"] ?? "ws://127.0.0.1:8081");
    o.Route = "reports";
    o.Target = builder.Configuration["ReportsTarget"] ?? "http://127.0.0.1:3001";
});

builder.Build().Run();
// endregion
