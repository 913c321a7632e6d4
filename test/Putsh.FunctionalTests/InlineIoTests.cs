using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Putsh.Cli.Hosting;
using Putsh.Cli.Tests;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.FunctionalTests;

/// <summary>
/// This assembly runs as the putsh executable does by default (<c>--inline-io</c>): its test host gets
/// <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c> from <c>functional.runsettings</c>, so every proxy test
/// here also shows that nothing putsh runs on a socket thread blocks it.
/// </summary>
public sealed class InlineIoTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Socket_completions_run_on_the_io_threads_in_this_test_host()
    {
        Assert.True(ProcessIo.InlineCompletions, "functional.runsettings must give the test host the variable");

        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!).DefaultTimeout();
        using var server = await listener.AcceptAsync().DefaultTimeout();

        // The receive waits for data that is sent only after it is pending, so it completes through epoll.
        var buffer = new byte[16];
        var receive = ReceiveAndReportThreadAsync(server, buffer);
        Assert.False(receive.IsCompleted);
        await client.SendAsync(new byte[] { 42 });
        var (received, onThreadPool) = await receive.DefaultTimeout();

        Assert.Equal(1, received);
        Assert.Equal(42, buffer[0]);
        Assert.False(onThreadPool, "with inline completions the continuation runs on the epoll thread, not a pool thread");
    }

    [Fact]
    public async Task The_router_lets_kestrel_process_requests_on_the_io_threads_and_proxies()
    {
        await using var backend = await TestBackend.StartAsync(app => Backends.Map(app, "/inline"), output);
        await using var router = await CliTestRouter.StartAsync(output);
        await using var connector = await TestConnector.StartAsync([router.RegisterUri], "inline", backend.Uri, output, sockets: 2);

        Assert.True(router.Services.GetRequiredService<IOptions<SocketTransportOptions>>().Value.UnsafePreferInlineScheduling);
        var requests = Enumerable.Range(0, 32).Select(async i =>
        {
            using var response = await router.Client.GetAsync($"/inline/raw?n={i}").DefaultTimeout();
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal($"/inline/raw?n={i}", await response.Content.ReadAsStringAsync().DefaultTimeout());
        });
        await Task.WhenAll(requests).DefaultTimeout();
    }

    private static async Task<(int Received, bool OnThreadPool)> ReceiveAndReportThreadAsync(Socket socket, byte[] buffer)
    {
        // No captured context: the continuation runs on whichever thread completed the receive.
        var received = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).ConfigureAwait(false);
        return (received, Thread.CurrentThread.IsThreadPoolThread);
    }
}
