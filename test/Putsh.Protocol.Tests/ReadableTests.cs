using Putsh.Protocol.Diagnostics;

namespace Putsh.Protocol.Tests;

public sealed class ReadableTests
{
    [Theory]
    [InlineData(0, "0ms")]
    [InlineData(250, "250ms")]
    [InlineData(1500, "1.5s")]
    [InlineData(5000, "5s")]
    [InlineData(60_000, "1m")]
    [InlineData(150_000, "2m30s")]
    [InlineData(3_600_000, "1h")]
    [InlineData(90_061_500, "1d1h1m1.5s")]
    [InlineData(-2000, "-2s")]
    public void Durations_read_as_the_options_take_them(long milliseconds, string expected) =>
        Assert.Equal(expected, new ReadableDuration(TimeSpan.FromMilliseconds(milliseconds)).ToString());

    [Fact]
    public void An_exception_is_described_with_its_inner_messages_once_each()
    {
        var inner = new System.Net.Sockets.SocketException(111);
        var outer = new HttpRequestException("An error occurred while sending the request.", new IOException("Unable to read data", inner));
        Assert.Equal($"An error occurred while sending the request. (Unable to read data; {inner.Message})", ExceptionText.Describe(outer));
        Assert.Equal("plain", ExceptionText.Describe(new InvalidOperationException("plain")));
        var repeating = new HttpRequestException("Connection refused (127.0.0.1:9)", new System.Net.Sockets.SocketException(111));
        Assert.Equal("Connection refused (127.0.0.1:9)", ExceptionText.Describe(repeating));
    }
}
