using System.CommandLine;
using Putsh.Protocol.Configuration;
using Putsh.Cli.Hosting;

namespace Putsh.Cli.Commands;

/// <summary>
/// <c>putsh probe URL</c>: GETs a health endpoint and exits 0 when it answers 2xx, 1 otherwise, saying why in one
/// line. For container images with no shell or curl (the Dockerfile's <c>HEALTHCHECK</c>), and for scripts.
/// </summary>
internal static class ProbeCommand
{
    /// <summary>Exit code for an answer that is not 2xx, a refused connection or a timeout.</summary>
    public const int Unhealthy = 1;

    public static Command Create()
    {
        var url = new Argument<string>("url") { Description = "the endpoint to GET, for example http://127.0.0.1:9091/health/ready" };
        var timeout = new Option<TimeSpan>("--timeout")
        {
            Description = "how long to wait for the answer [default: 5s]",
            DefaultValueFactory = _ => TimeSpan.FromSeconds(5),
            CustomParser = result =>
            {
                if (Durations.TryParse(result.Tokens[0].Value, out var value) && value > TimeSpan.Zero)
                {
                    return value;
                }

                result.AddError($"--timeout: '{result.Tokens[0].Value}' is not a positive duration (250ms, 5s, 1m).");
                return default;
            },
        };
        var command = new Command("probe", "GETs a health endpoint: exit 0 for a 2xx answer, 1 otherwise (for container health checks).") { url, timeout };
        command.SetAction(async (parse, cancellationToken) =>
            await RunAsync(parse.GetValue(url)!, parse.GetValue(timeout), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, cancellationToken));
        return command;
    }

    public static async Task<int> RunAsync(string text, TimeSpan timeout, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
        {
            throw new UsageException($"probe: '{text}' is not an http:// or https:// URL.");
        }

        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false }) { Timeout = Timeout.InfiniteTimeSpan };
        using var deadline = new CancellationTokenSource(timeout, TimeProvider.System);
        using var linked = cancellationToken.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), deadline);
        try
        {
            using var response = await client.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
            var status = (int)response.StatusCode;
            if (status is >= 200 and < 300)
            {
                output.WriteLine($"putsh probe: {url} answered {status}");
                return 0;
            }

            error.WriteLine($"putsh probe: {url} answered {status} {response.ReasonPhrase}");
            return Unhealthy;
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            error.WriteLine($"putsh probe: {url} did not answer within {timeout.TotalSeconds:0.###} s");
            return Unhealthy;
        }
        catch (HttpRequestException e)
        {
            error.WriteLine($"putsh probe: {url}: {e.Message}");
            return Unhealthy;
        }
    }
}
