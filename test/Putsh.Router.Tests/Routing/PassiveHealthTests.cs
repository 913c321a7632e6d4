using System.Net;
using Microsoft.Extensions.Time.Testing;
using Putsh.Router.Tests.V3;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Router.Tests.Routing;

/// <summary>Passive health (<see cref="RouterOptions.PassiveHealthFailures"/>): a failing instance out of rotation, then probed back in.</summary>
public sealed class PassiveHealthTests(ITestOutputHelper output)
{
    [Fact]
    public async Task An_instance_whose_requests_fail_is_taken_out_then_probed_back_in_after_the_reactivation_period()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        await using var router = await TestRouter.StartAsync(output, o =>
        {
            o.PassiveHealthFailures = 3;
            o.PassiveHealthReactivation = TimeSpan.FromSeconds(10);
        }, time: time);
        await using var sick = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", instanceId: "sick");
        await using var well = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", instanceId: "well");
        var sickStatus = 502;
        using var stop = new CancellationTokenSource();
        var served = new Dictionary<string, int> { ["sick"] = 0, ["well"] = 0 };
        var serving = Task.WhenAll(ServeAsync(sick, "sick", () => sickStatus, served, stop.Token), ServeAsync(well, "well", () => 204, served, stop.Token));

        // Until it has failed three times in a row, the sick instance gets its turn.
        var statuses = new List<HttpStatusCode>();
        while (Count(served, "sick") < 3)
        {
            Assert.True(statuses.Count < 20, "the sick instance was never sent three requests");
            statuses.Add(await StatusAsync(router));
        }

        // Then it is out: everything goes to the other.
        var sickBefore = Count(served, "sick");
        for (var i = 0; i < 8; i++)
        {
            Assert.Equal(HttpStatusCode.NoContent, await StatusAsync(router));
        }

        Assert.Equal(sickBefore, Count(served, "sick"));

        // After the reactivation period its next request probes it; now well, it stays in.
        sickStatus = 204;
        time.Advance(TimeSpan.FromSeconds(11));
        for (var i = 0; Count(served, "sick") == sickBefore; i++)
        {
            Assert.True(i < 8, "the sick instance was never probed");
            Assert.Equal(HttpStatusCode.NoContent, await StatusAsync(router));
        }

        var afterProbe = Count(served, "sick");
        for (var i = 0; i < 8; i++)
        {
            Assert.Equal(HttpStatusCode.NoContent, await StatusAsync(router));
        }

        Assert.True(Count(served, "sick") > afterProbe, "the instance never came back into rotation");
        await stop.CancelAsync();
        await serving;
    }

    [Fact]
    public async Task While_every_instance_is_out_they_are_used_anyway()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        await using var router = await TestRouter.StartAsync(output, o => o.PassiveHealthFailures = 2, time: time);
        await using var only = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", instanceId: "only");
        using var stop = new CancellationTokenSource();
        var served = new Dictionary<string, int> { ["only"] = 0 };
        var serving = ServeAsync(only, "only", () => 502, served, stop.Token);

        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(HttpStatusCode.BadGateway, await StatusAsync(router));
        }

        Assert.Equal(5, Count(served, "only"));
        await stop.CancelAsync();
        await serving;
    }

    private static int Count(Dictionary<string, int> served, string name)
    {
        lock (served)
        {
            return served[name];
        }
    }

    private static async Task<HttpStatusCode> StatusAsync(TestRouter router)
    {
        using var response = await router.Client.GetAsync("/svc/x").DefaultTimeout();
        return response.StatusCode;
    }

    /// <summary>Answers every request head with <paramref name="status"/> and no body, counting them, until stopped.</summary>
    private static async Task ServeAsync(FakeV3Connector connector, string name, Func<int> status, Dictionary<string, int> served, CancellationToken stop)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                if (!await connector.WaitForMessageAsync().WaitAsync(stop))
                {
                    return;
                }

                var frame = await connector.ReceiveFrameAsync();
                if (frame.Type != V3Bytes.Header)
                {
                    continue;
                }

                lock (served)
                {
                    served[name]++;
                }

                await connector.SendAsync(V3Bytes.WindowUpdateMessage(frame.Id, frame.Payload.Length));
                await connector.SendAsync(V3Bytes.HeaderMessage(frame.Id, 0x05, $"HTTP/1.1 {status()} X\n"));
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
