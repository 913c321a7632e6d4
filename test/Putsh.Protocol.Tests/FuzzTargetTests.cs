using Putsh.Fuzz;

namespace Putsh.Protocol.Tests;

/// <summary>
/// The short fuzz pass of the suite: the fuzz targets of fuzz/Putsh.Fuzz over their seed corpus and a fixed set of
/// mutations of it (bit flips, truncations, splices, random bytes, lengths set to extremes), with a fixed seed so a
/// failure reproduces. A target may only fail the way bad input is meant to; the long coverage-guided runs are
/// fuzz/run.sh's, with AFL++.
/// </summary>
public sealed class FuzzTargetTests
{
    private const int MutationsPerSeed = 1500;

    public static TheoryData<string> Seeds()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(AppContext.BaseDirectory, "Fuzz", "corpus"), "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetRelativePath(Path.Combine(AppContext.BaseDirectory, "Fuzz", "corpus"), file));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Every_mutation_of_a_seed_is_read_or_refused_and_nothing_else(string seed)
    {
        var bytes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fuzz", "corpus", seed));
        Action<byte[]> target = seed.StartsWith("frames", StringComparison.Ordinal) ? data => FuzzTargets.Frames(data) : data => FuzzTargets.V3Message(data);
        target(bytes);
        var random = new Random(seed.GetHashCode(StringComparison.Ordinal) ^ 0x5EED);
        for (var i = 0; i < MutationsPerSeed; i++)
        {
            var mutated = Mutate(bytes, random);
            try
            {
                target(mutated);
            }
            catch (Exception ex)
            {
                Assert.Fail($"mutation {i} of {seed} ({Convert.ToHexString(mutated.AsSpan(0, Math.Min(64, mutated.Length)))}...): {ex}");
            }
        }
    }

    private static byte[] Mutate(byte[] seed, Random random)
    {
        var data = (byte[])seed.Clone();
        var edits = 1 + random.Next(4);
        for (var e = 0; e < edits; e++)
        {
            if (data.Length == 0)
            {
                return [(byte)random.Next(256)];
            }

            switch (random.Next(6))
            {
                case 0:
                    data[random.Next(data.Length)] ^= (byte)(1 << random.Next(8));
                    break;
                case 1:
                    data[random.Next(data.Length)] = (byte)random.Next(256);
                    break;
                case 2:
                    data = data[..random.Next(data.Length)];
                    break;
                case 3:
                    // An interesting value where a length or a code may be: 0, 1, 125-127, 0xFF, 0x7F.
                    byte[] interesting = [0, 1, 0x7D, 0x7E, 0x7F, 0x80, 0xFF];
                    data[random.Next(data.Length)] = interesting[random.Next(interesting.Length)];
                    break;
                case 4:
                    var at = random.Next(data.Length);
                    var copy = data.AsSpan(random.Next(data.Length)).ToArray();
                    data = [.. data.AsSpan(0, at), .. copy.AsSpan(0, Math.Min(copy.Length, 64)), .. data.AsSpan(at)];
                    break;
                default:
                    var noise = new byte[random.Next(1, 16)];
                    random.NextBytes(noise);
                    var where = random.Next(data.Length);
                    data = [.. data.AsSpan(0, where), .. noise, .. data.AsSpan(where)];
                    break;
            }
        }

        return data;
    }
}
