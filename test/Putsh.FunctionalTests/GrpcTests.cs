using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Putsh.Cli.Commands;
using Putsh.Cli.Tests;
using Putsh.FunctionalTests.Grpc;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.FunctionalTests;

/// <summary>
/// gRPC through a router and a connector (the putsh <c>trailers</c> extension, docs/protocol.md §12.8): a real
/// Grpc.AspNetCore server as the target, a real Grpc.Net.Client as the client, HTTP/2 on both outer hops (h2c with
/// prior knowledge, or TLS with ALPN). Trailers carry each call's status, so none of this works without them.
/// </summary>
public sealed class GrpcTests(ITestOutputHelper output) : IAsyncLifetime
{
    // The route is the gRPC service's name: the first segment of every one of its paths.
    private const string Route = "putsh.tests.Echo";

    private readonly Probe _probe = new();
    private TestCertificates? _certificates;
    private WebApplication? _target;
    private TestRouter? _router;
    private Putsh.Connector.CrankerConnector? _connector;
    private GrpcChannel? _channel;

    private Echo.EchoClient Client => new(_channel!);

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>A target speaking HTTP/2 without TLS (the connector with <c>TargetProtocol=http2</c>), and an h2c client.</summary>
    private async Task StartCleartextAsync()
    {
        var target = await StartTargetAsync(tls: false);
        _router = await CliTestRouter.StartAsync(output);
        _connector = await TestConnector.StartAsync([_router.RegisterUri], Route, target, output, o => o.TargetProtocol = "http2");
        await WaitForSocketsAsync();
        _channel = GrpcChannel.ForAddress(_router.ClientUri, new GrpcChannelOptions { HttpHandler = new SocketsHttpHandler() });
    }

    /// <summary>TLS on every hop: the client and the target each agree HTTP/2 by ALPN (the connector's default, <c>auto</c>).</summary>
    private async Task StartTlsAsync()
    {
        _certificates = new TestCertificates();
        var target = await StartTargetAsync(tls: true);
        var (cert, key) = _certificates.Server("router");
        _router = await CliTestRouter.StartAsync(new RouterSettings { Listen = ["https://127.0.0.1:0"], Register = ["http://127.0.0.1:0"], TlsCert = cert, TlsKey = key }, output);
        _connector = await TestConnector.StartAsync([_router.RegisterUri], Route, target, output, o => o.TrustedCaFile = _certificates.CaFile);
        await WaitForSocketsAsync();
        var ca = X509CertificateLoader.LoadCertificateFromFile(_certificates.CaFile);
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                // The router's certificate must chain to the test CA.
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                {
                    using var chain = new X509Chain();
                    chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.CustomTrustStore.Add(ca);
                    chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    return certificate is not null && chain.Build(new X509Certificate2(certificate));
                },
            },
        };
        _channel = GrpcChannel.ForAddress(_router.ClientUri, new GrpcChannelOptions { HttpHandler = handler });
    }

    private async Task WaitForSocketsAsync() =>
        await Eventually.True(() => _router!.V3Pool(Route, "*")?.Count >= 2, "the router to hold the connector's cranker_3.0 sockets");

    private async Task<Uri> StartTargetAsync(bool tls)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new XunitLoggerProvider(output, "target"));
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen =>
        {
            if (tls)
            {
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                listen.UseHttps(TestCertificates.Load(_certificates!.Server("target")));
            }
            else
            {
                listen.Protocols = HttpProtocols.Http2;
            }
        }));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(_probe);
        _target = builder.Build();
        _target.MapGrpcService<EchoService>();
        await _target.StartAsync().DefaultTimeout();
        return new Uri(_target.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }

    public async Task DisposeAsync()
    {
        _channel?.Dispose();
        if (_connector is not null)
        {
            await _connector.DisposeAsync();
        }

        if (_router is not null)
        {
            await _router.DisposeAsync();
        }

        if (_target is not null)
        {
            await _target.DisposeAsync();
        }

        _certificates?.Dispose();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_unary_call_gets_its_reply_and_its_trailers(bool tls)
    {
        await (tls ? StartTlsAsync() : StartCleartextAsync());

        using var call = Client.UnaryAsync(new EchoRequest { Text = "hello" }, new Metadata { { "x-caller", "grpc-tests" } });
        var reply = await call.ResponseAsync.DefaultTimeout();

        Assert.Equal("hello", reply.Text);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        Assert.Equal("unary:hello", call.GetTrailers().GetValue("x-echo-trailer"));
        // The client's metadata, and its te: trailers, reached the target.
        Assert.Equal("grpc-tests", _probe.Caller);
        Assert.Equal("trailers", _probe.Te);
    }

    [Fact]
    public async Task A_server_streaming_call_gets_every_message_in_order_then_the_status_from_the_trailers()
    {
        await StartCleartextAsync();

        using var call = Client.ServerStream(new EchoRequest { Text = "s", Count = 200, Fail = "no more for you" });
        var indexes = new List<int>();
        var failure = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var reply in call.ResponseStream.ReadAllAsync().WithCancellation(TestTimeouts.Token()))
            {
                indexes.Add(reply.Index);
            }
        });

        Assert.Equal(Enumerable.Range(0, 200), indexes);
        // Sent after 200 messages, so only the trailer section can have carried it.
        Assert.Equal(StatusCode.FailedPrecondition, failure.StatusCode);
        Assert.Equal("no more for you", failure.Status.Detail);
    }

    [Fact]
    public async Task A_status_without_any_message_reaches_the_client()
    {
        await StartCleartextAsync();

        using var call = Client.ServerStream(new EchoRequest { Count = 0, Fail = "nothing at all" });
        var failure = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(TestTimeouts.Token()));

        Assert.Equal(StatusCode.FailedPrecondition, failure.StatusCode);
        Assert.Equal("nothing at all", failure.Status.Detail);
    }

    [Fact]
    public async Task A_client_streaming_call_sends_every_message_before_its_one_reply()
    {
        await StartCleartextAsync();

        using var call = Client.ClientStream();
        for (var i = 0; i < 100; i++)
        {
            await call.RequestStream.WriteAsync(new EchoRequest { Text = (i % 10).ToString(System.Globalization.CultureInfo.InvariantCulture) }).DefaultTimeout();
        }

        await call.RequestStream.CompleteAsync().DefaultTimeout();
        var reply = await call.ResponseAsync.DefaultTimeout();

        Assert.Equal(100, reply.Index);
        Assert.Equal(string.Concat(Enumerable.Range(0, 100).Select(i => i % 10)), reply.Text);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task A_bidirectional_call_streams_both_ways_at_once()
    {
        await StartCleartextAsync();

        // Each reply is awaited before the next message is written: nothing in the path may hold either direction back.
        using var call = Client.Bidi();
        for (var i = 0; i < 50; i++)
        {
            var text = "ping " + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            await call.RequestStream.WriteAsync(new EchoRequest { Text = text }).DefaultTimeout();
            Assert.True(await call.ResponseStream.MoveNext(TestTimeouts.Token()));
            Assert.Equal(text.ToUpperInvariant(), call.ResponseStream.Current.Text);
            Assert.Equal(i, call.ResponseStream.Current.Index);
        }

        await call.RequestStream.CompleteAsync().DefaultTimeout();
        Assert.False(await call.ResponseStream.MoveNext(TestTimeouts.Token()));
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        Assert.Equal("50", call.GetTrailers().GetValue("x-echo-count"));
    }

    [Fact]
    public async Task A_client_cancel_becomes_a_cancelled_call_on_the_target()
    {
        await StartCleartextAsync();

        using var cts = new CancellationTokenSource();
        using var call = Client.WaitAsync(new EchoRequest { Text = "cancel me" }, cancellationToken: cts.Token);
        await _probe.Waiting.Task.DefaultTimeout();

        await cts.CancelAsync();

        var failure = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync).DefaultTimeout();
        Assert.Equal(StatusCode.Cancelled, failure.StatusCode);
        // The client's RST_STREAM went to the router, a reset to the connector, and an RST_STREAM to the target.
        await _probe.Cancelled.Task.DefaultTimeout();
    }

    [Fact]
    public async Task A_deadline_reaches_the_target_and_ends_the_call_there_when_it_passes()
    {
        await StartCleartextAsync();

        // grpc-timeout travels as a header: the target's deadline is the client's, give or take the trip.
        var deadline = DateTime.UtcNow.AddSeconds(3);
        using var call = Client.WaitAsync(new EchoRequest { Text = "until the deadline" }, deadline: deadline);
        var seen = await _probe.Waiting.Task.DefaultTimeout();
        Assert.InRange(seen, deadline.AddSeconds(-1), deadline.AddSeconds(1));

        var failure = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync).DefaultTimeout();
        Assert.Equal(StatusCode.DeadlineExceeded, failure.StatusCode);
        await _probe.Cancelled.Task.DefaultTimeout();
    }

    /// <summary>What the target saw, for the tests to wait on.</summary>
    internal sealed class Probe
    {
        public string? Caller { get; set; }

        public string? Te { get; set; }

        /// <summary>A <c>Wait</c> call arrived; its value is the call's deadline as the target sees it.</summary>
        public TaskCompletionSource<DateTime> Waiting { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The target's call was cancelled (the client's cancel, or its deadline).</summary>
        public TaskCompletionSource Cancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>The target: one method per call shape.</summary>
    internal sealed class EchoService(Probe probe) : Echo.EchoBase
    {
        public override Task<EchoReply> Unary(EchoRequest request, ServerCallContext context)
        {
            probe.Caller = context.RequestHeaders.GetValue("x-caller");
            probe.Te = context.GetHttpContext().Request.Headers.TE;
            context.ResponseTrailers.Add("x-echo-trailer", "unary:" + request.Text);
            return Task.FromResult(new EchoReply { Text = request.Text });
        }

        public override async Task ServerStream(EchoRequest request, IServerStreamWriter<EchoReply> responseStream, ServerCallContext context)
        {
            for (var i = 0; i < request.Count; i++)
            {
                await responseStream.WriteAsync(new EchoReply { Text = request.Text, Index = i }, context.CancellationToken);
            }

            if (request.Fail.Length > 0)
            {
                throw new RpcException(new Status(StatusCode.FailedPrecondition, request.Fail));
            }
        }

        public override async Task<EchoReply> ClientStream(IAsyncStreamReader<EchoRequest> requestStream, ServerCallContext context)
        {
            var text = new System.Text.StringBuilder();
            var count = 0;
            await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken))
            {
                text.Append(request.Text);
                count++;
            }

            return new EchoReply { Text = text.ToString(), Index = count };
        }

        public override async Task Bidi(IAsyncStreamReader<EchoRequest> requestStream, IServerStreamWriter<EchoReply> responseStream, ServerCallContext context)
        {
            var count = 0;
            await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken))
            {
                await responseStream.WriteAsync(new EchoReply { Text = request.Text.ToUpperInvariant(), Index = count++ }, context.CancellationToken);
            }

            context.ResponseTrailers.Add("x-echo-count", count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        public override async Task<EchoReply> Wait(EchoRequest request, ServerCallContext context)
        {
            probe.Waiting.TrySetResult(context.Deadline);
            try
            {
                await Task.Delay(Timeout.Infinite, context.CancellationToken);
            }
            catch (OperationCanceledException)
            {
                probe.Cancelled.TrySetResult();
                throw;
            }

            return new EchoReply();
        }
    }
}
