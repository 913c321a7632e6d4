using Putsh.Connector;
using Putsh.Protocol.Channels;

// A connector in a plain .NET program, without a host: first forwarding to a local backend, then answering requests
// itself (no backend, no port). The README's "Using the libraries" shows parts of this file.
//   dotnet run --project samples/PutshInProcess -- [target|events|echo] [router]
var mode = args.Length > 0 ? args[0] : "target";
var router = args.Length > 1 ? args[1] : "ws://127.0.0.1:8081";
using var loggerFactory = LoggerFactory.Create(b => b.AddConsole());

if (mode == "target")
{
    // region: connector
    var options = new ConnectorOptions { Route = "hello", Target = "http://127.0.0.1:3000" };
    options.Routers.Add(router);
    await using var connector = new CrankerConnector(options, loggerFactory);
    await connector.StartAsync();
    // ... until the program should stop:
    await WaitForCtrlCAsync();
    await connector.StopAsync();   // deregister, drain, close
    // endregion
}
else
{
    var options = new ConnectorOptions { Route = "hello" };
    options.Routers.Add(router);
    if (mode == "events")
    {
        // region: events
        options.Handler = async (request, channel) =>
        {
            channel.Send(ChannelData.Response(200, [new("content-type", "text/event-stream")], "data: hello\n\n"));
            await Task.Delay(1000);
            channel.Send(ChannelData.Text("data: again\n\n"));   // streamed: the client has the first event already
        };
        // endregion
    }
    else
    {
        // region: echo
        options.Handler = (request, channel) =>
        {
            if (channel.IsWebSocket)
            {
                channel.OnReceive(m => channel.Send(m.IsText ? ChannelData.Text("echo: " + m.Text) : ChannelData.Bytes(m.Data.ToArray())));
            }
            else
            {
                channel.Send(ChannelData.Response(200, [new("content-type", "text/plain")], "hello"));
            }

            return Task.CompletedTask;
        };
        // endregion
    }

    await using var connector = new CrankerConnector(options, loggerFactory);
    await connector.StartAsync();
    await WaitForCtrlCAsync();
    await connector.StopAsync();
}

static Task WaitForCtrlCAsync()
{
    var stop = new TaskCompletionSource();
    Console.CancelKeyPress += (_, e) =>
    {
        e.Cancel = true;
        stop.TrySetResult();
    };
    return stop.Task;
}
