using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace Putsh.Router.Tests.Hosting;

public sealed class TmpPlainTests
{
    [Theory]
    [InlineData(1024 * 1024 + 17)]
    [InlineData(40000)]
    public async Task Plain_h2_echo(int size)
    {
        ListenOptions? lo = null;
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => { k.Limits.MaxRequestBodySize = null; k.Listen(IPAddress.Loopback, 0, l => { lo = l; l.Protocols = HttpProtocols.Http2; }); });
        await using var app = builder.Build();
        app.Run(async c => await c.Request.Body.CopyToAsync(c.Response.Body));
        await app.StartAsync();
        using var client = new HttpClient();
        var body = RandomNumberGenerator.GetBytes(size);
        using var req = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{lo!.IPEndPoint!.Port}/") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact, Content = new ByteArrayContent(body) };
        using var resp = await client.SendAsync(req).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(body, await resp.Content.ReadAsByteArrayAsync());
        await app.StopAsync();
    }
}
