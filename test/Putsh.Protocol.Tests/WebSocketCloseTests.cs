using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Putsh.Protocol.Transport;

namespace Putsh.Protocol.Tests;

public class WebSocketCloseTests
{
    private static readonly TimeSpan s_testTimeout = TimeSpan.FromSeconds(10);

    // ---- TruncateReason ----

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void TruncateReason_NullOrEmpty_IsEmpty(string? reason)
    {
        Assert.Equal("", WebSocketClose.TruncateReason(reason));
    }

    [Theory]
    [InlineData("connector stop")]
    [InlineData("Going away")]
    [InlineData("héllo wörld €😀")]
    public void TruncateReason_ShortReason_IsUnchanged(string reason)
    {
        Assert.Equal(reason, WebSocketClose.TruncateReason(reason));
    }

    [Fact]
    public void TruncateReason_Exactly123Bytes_IsUnchanged()
    {
        var reason = new string('x', WebSocketClose.MaxReasonBytes);

        Assert.Equal(reason, WebSocketClose.TruncateReason(reason));
    }

    [Fact]
    public void TruncateReason_LongAscii_IsCutTo123Bytes()
    {
        var reason = string.Concat(Enumerable.Range(0, 40).Select(i => $"e{i:D2}!"));
        Assert.True(reason.Length > 123);

        var result = WebSocketClose.TruncateReason(reason);

        Assert.Equal(123, result.Length);
        Assert.Equal(123, Encoding.UTF8.GetByteCount(result));
        Assert.Equal(reason[..123], result);
    }

    [Fact]
    public void TruncateReason_124Ascii_IsCutBy1()
    {
        var reason = new string('a', 123) + "b";

        Assert.Equal(new string('a', 123), WebSocketClose.TruncateReason(reason));
    }

    [Theory]
    [InlineData("é", 2)]          // two-byte UTF-8
    [InlineData("€", 3)]          // three-byte UTF-8
    [InlineData("😀", 4)]         // four-byte UTF-8, a surrogate pair in UTF-16
    public void TruncateReason_MultiByte_NeverSplitsACharacter(string unit, int bytesPerUnit)
    {
        Assert.Equal(bytesPerUnit, Encoding.UTF8.GetByteCount(unit));
        foreach (var prefix in new[] { "", "a", "ab", "abc" })
        {
            var reason = prefix + string.Concat(Enumerable.Repeat(unit, 100));

            var result = WebSocketClose.TruncateReason(reason);

            var bytes = Encoding.UTF8.GetByteCount(result);
            Assert.True(bytes <= WebSocketClose.MaxReasonBytes, $"{bytes} bytes with prefix '{prefix}'");
            // As long as possible: one more character would exceed the limit.
            Assert.True(bytes > WebSocketClose.MaxReasonBytes - bytesPerUnit, $"only {bytes} bytes with prefix '{prefix}'");
            Assert.StartsWith(result, reason, StringComparison.Ordinal);
            Assert.False(char.IsHighSurrogate(result[^1]), "a surrogate pair was split");
            // Every character survives an encode/decode round trip, so no partial sequence was produced.
            Assert.Equal(result, Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(result)));
        }
    }

    [Fact]
    public void TruncateReason_MixedText_IsAPrefixWithinTheLimit()
    {
        var reason = string.Concat(Enumerable.Repeat("Ошибка: 接続が切断されました 😀 ", 10));

        var result = WebSocketClose.TruncateReason(reason);

        Assert.NotEqual(reason, result);
        Assert.True(Encoding.UTF8.GetByteCount(result) <= WebSocketClose.MaxReasonBytes);
        Assert.StartsWith(result, reason, StringComparison.Ordinal);
        Assert.True(result.Length > 0);
        Assert.False(char.IsHighSurrogate(result[^1]));
    }

    [Fact]
    public void MaxReasonBytes_Is123()
    {
        Assert.Equal(123, WebSocketClose.MaxReasonBytes);
    }

    // ---- CloseOutputQuietlyAsync ----

    [Theory]
    [InlineData(WebSocketState.Open)]
    [InlineData(WebSocketState.CloseReceived)]
    public async Task CloseOutputQuietly_OpenSocket_SendsCloseWithStatusAndReason(WebSocketState state)
    {
        using var socket = new ProbeWebSocket { StateValue = state };

        await WebSocketClose.CloseOutputQuietlyAsync(socket, WebSocketCloseStatus.InternalServerError, "boom", s_testTimeout, TimeProvider.System)
            .WaitAsync(s_testTimeout);

        var close = Assert.Single(socket.Closes);
        Assert.Equal(WebSocketCloseStatus.InternalServerError, close.Status);
        Assert.Equal("boom", close.Reason);
        Assert.False(socket.Aborted);
    }

    [Fact]
    public async Task CloseOutputQuietly_LongReason_IsTruncated()
    {
        using var socket = new ProbeWebSocket();
        var reason = string.Concat(Enumerable.Repeat("€rror ", 60));

        await WebSocketClose.CloseOutputQuietlyAsync(socket, WebSocketCloseStatus.InternalServerError, reason, s_testTimeout, TimeProvider.System)
            .WaitAsync(s_testTimeout);

        var close = Assert.Single(socket.Closes);
        Assert.Equal(WebSocketClose.TruncateReason(reason), close.Reason);
        Assert.True(Encoding.UTF8.GetByteCount(close.Reason!) <= 123);
    }

    [Theory]
    [InlineData(WebSocketState.Closed)]
    [InlineData(WebSocketState.Aborted)]
    [InlineData(WebSocketState.CloseSent)]
    public async Task CloseOutputQuietly_SocketNotOpen_DoesNothing(WebSocketState state)
    {
        using var socket = new ProbeWebSocket { StateValue = state };

        await WebSocketClose.CloseOutputQuietlyAsync(socket, WebSocketCloseStatus.NormalClosure, "", s_testTimeout, TimeProvider.System)
            .WaitAsync(s_testTimeout);

        Assert.Empty(socket.Closes);
        Assert.False(socket.Aborted);
    }

    [Fact]
    public async Task CloseOutputQuietly_CloseThrows_AbortsAndDoesNotThrow()
    {
        using var socket = new ProbeWebSocket { ThrowOnClose = true };

        await WebSocketClose.CloseOutputQuietlyAsync(socket, WebSocketCloseStatus.NormalClosure, "", s_testTimeout, TimeProvider.System)
            .WaitAsync(s_testTimeout);

        Assert.True(socket.Aborted);
    }

    [Fact]
    public async Task CloseOutputQuietly_PeerNeverCompletesClose_AbortsAfterTimeout()
    {
        var time = new FakeTimeProvider();
        using var socket = new ProbeWebSocket { BlockCloseUntilCancelled = true };

        var closing = WebSocketClose.CloseOutputQuietlyAsync(socket, WebSocketCloseStatus.NormalClosure, "", TimeSpan.FromSeconds(5), time);
        await socket.CloseStarted.WaitAsync(s_testTimeout);
        Assert.False(closing.IsCompleted);

        time.Advance(TimeSpan.FromSeconds(4));
        Assert.False(closing.IsCompleted);
        Assert.False(socket.Aborted);

        time.Advance(TimeSpan.FromSeconds(1));
        await closing.WaitAsync(s_testTimeout);

        Assert.True(socket.Aborted);
    }

    [Fact]
    public async Task CloseOutputQuietly_NullSocket_Throws()
    {
        await Assert.ThrowsAsync<ArgumentNullException>(
            () => WebSocketClose.CloseOutputQuietlyAsync(null!, WebSocketCloseStatus.NormalClosure, "", s_testTimeout, TimeProvider.System))
            .WaitAsync(s_testTimeout);
    }
}
