using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using Putsh.Cli.Tests;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.FunctionalTests;

/// <summary>
/// 256 MiB each way through router and connector, all in this process. If any hop held a body in memory, the
/// process would grow by at least the body's size; streaming keeps the growth to buffers.
/// </summary>
[Collection(nameof(LargeBodyTests))]
[CollectionDefinition(nameof(LargeBodyTests), DisableParallelization = true)]
public sealed class LargeBodyTests(ITestOutputHelper output)
{
    private const long Size = 256L * 1024 * 1024;

    // Generous for everything in this process (client, router, connector, backend, test host), yet far below
    // one body: the router's own share is a few buffers per request.
    private const long AllowedGrowth = 96L * 1024 * 1024;

    [Fact]
    public async Task A_256_MiB_upload_and_download_stream_without_growing_memory()
    {
        await using var backend = await TestBackend.StartAsync(app => Backends.Map(app, "/big"), output);
        await using var router = await CliTestRouter.StartAsync();
        await using var connector = await TestConnector.StartAsync(router, "big", backend);
        await WarmUpAsync(router.Client);

        using var sampler = new PeakMemorySampler();

        using (var request = new HttpRequestMessage(HttpMethod.Post, "/big/upload") { Content = new StreamContent(new PatternStream(Size)) })
        {
            request.Content.Headers.ContentLength = Size;
            using var response = await router.Client.SendAsync(request).DefaultTimeout();
            var parts = (await response.Content.ReadAsStringAsync().DefaultTimeout()).Split(' ');
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(Size.ToString(), parts[0]);
            Assert.Equal(PatternStream.Sha256(Size), parts[1]);
        }

        using (var response = await router.Client.GetAsync($"/big/download?size={Size}&chunked=true", HttpCompletionOption.ResponseHeadersRead).DefaultTimeout())
        {
            await using var body = await response.Content.ReadAsStreamAsync().DefaultTimeout();
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[64 * 1024];
            long total = 0;
            int n;
            while ((n = await body.ReadAsync(buffer).AsTask().DefaultTimeout()) > 0)
            {
                sha.AppendData(buffer, 0, n);
                total += n;
            }

            Assert.Equal(Size, total);
            Assert.Equal(PatternStream.Sha256(Size), Convert.ToHexString(sha.GetHashAndReset()));
        }

        var growth = sampler.Stop();
        output.WriteLine($"peak working-set growth over 2 x 256 MiB: {growth / (1024 * 1024)} MiB");
        Assert.True(growth < AllowedGrowth, $"memory grew by {growth / (1024 * 1024)} MiB");
    }

    private static async Task WarmUpAsync(HttpClient client)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/big/upload") { Content = new StreamContent(new PatternStream(4 * 1024 * 1024)) };
        using var response = await client.SendAsync(request).DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    /// <summary>Samples the process's working set on a timer and keeps the peak above the starting point.</summary>
    private sealed class PeakMemorySampler : IDisposable
    {
        private readonly long _baseline;
        private readonly Timer _timer;
        private long _peak;

        public PeakMemorySampler()
        {
            _baseline = Current();
            _peak = _baseline;
            _timer = new Timer(_ => Sample(), null, TimeSpan.Zero, TimeSpan.FromMilliseconds(25));
        }

        public long Stop()
        {
            _timer.Dispose();
            Sample();
            return Interlocked.Read(ref _peak) - _baseline;
        }

        private void Sample()
        {
            var now = Current();
            long peak;
            while (now > (peak = Interlocked.Read(ref _peak)) && Interlocked.CompareExchange(ref _peak, now, peak) != peak)
            {
            }
        }

        private static long Current()
        {
            using var process = Process.GetCurrentProcess();
            return process.WorkingSet64;
        }

        public void Dispose() => _timer.Dispose();
    }

    /// <summary>A read-only stream of <see cref="Backends.Pattern"/> bytes, generated as read, never materialised.</summary>
    private sealed class PatternStream(long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public static string Sha256(long length)
        {
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            using var stream = new PatternStream(length);
            var buffer = new byte[64 * 1024];
            int n;
            while ((n = stream.Read(buffer, 0, buffer.Length)) > 0)
            {
                sha.AppendData(buffer, 0, n);
            }

            return Convert.ToHexString(sha.GetHashAndReset());
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = (int)Math.Min(buffer.Length, length - _position);
            Backends.FillPattern(buffer[..n], _position);

            _position += n;
            return n;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => new(Read(buffer.Span));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => Task.FromResult(Read(buffer, offset, count));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
