using Putsh.Fuzz;
using SharpFuzz;

// Run by afl-fuzz (fuzz/run.sh): one target per process, each input read from standard input.
//   dotnet Putsh.Fuzz.dll frames|v3
var target = args.Length == 1 ? args[0] : "";
Action<byte[]>? run = target switch
{
    "frames" => data => FuzzTargets.Frames(data),
    "v3" => data => FuzzTargets.V3Message(data),
    _ => null,
};

if (run is null)
{
    await Console.Error.WriteLineAsync("usage: Putsh.Fuzz frames|v3");
    return 2;
}

Fuzzer.OutOfProcess.Run(stream =>
{
    using var copy = new MemoryStream();
    stream.CopyTo(copy);
    run(copy.ToArray());
});
return 0;
