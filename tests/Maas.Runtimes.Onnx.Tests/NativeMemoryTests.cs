using System.Diagnostics;
using Maas.Core.Formats.Onnx;

namespace Maas.Runtimes.Onnx.Tests;

// Alone: the test reads the process's resident memory, which other test classes running beside it would move.
[CollectionDefinition(nameof(NativeMemoryTests), DisableParallelization = true)]
public sealed class NativeMemoryCollection;

[Collection(nameof(NativeMemoryTests))]
public sealed class NativeMemoryTests
{
    [Fact]
    public void LoadRunDisposeLoopKeepsNativeMemoryFlat()
    {
        var model = TestModels.AddOne().ToBytes();
        var identity = OnnxModelWriter.Identity(OnnxElementType.String, 3).ToBytes();
        using var options = new OnnxSessionOptions { IntraOpThreads = 1, InterOpThreads = 1 };

        void Iteration()
        {
            using var session = OnnxSession.FromBytes(model, options);
            _ = session.Metadata;
            using var input = OnnxTensor.Create(new float[] { 1, 2, 3, 4, 5, 6, 7, 8 }, 2, 4);
            using (var outputs = session.Run([new("x", input)]))
            {
                Assert.Equal(9f, outputs[0].GetData<float>()[7]);
            }

            using var binding = session.CreateIoBinding();
            binding.BindInput("x", input);
            binding.BindOutput("y");
            session.Run(binding);
            using (var bound = binding.GetOutputs())
            {
                Assert.Equal(2f, bound[0].GetData<float>()[0]);
            }

            using var strings = OnnxSession.FromBytes(identity, options);
            using var text = OnnxTensor.CreateStrings(["a", "bb", "ccc"], [3]);
            using var echoed = strings.Run([new("input", text)]);
            Assert.Equal("ccc", echoed[0].GetStrings()[2]);
        }

        for (var i = 0; i < 40; i++)
        {
            Iteration();
        }

        var before = ResidentBytes();
        var clock = Stopwatch.StartNew();
        var iterations = 0;
        while (iterations < 400 && clock.Elapsed < TimeSpan.FromSeconds(20))
        {
            Iteration();
            iterations++;
        }

        var growth = ResidentBytes() - before;

        Assert.True(iterations >= 100, $"only {iterations} iterations ran");
        Assert.True(growth < 16L << 20, $"resident memory grew by {growth >> 10} KiB over {iterations} load/run/dispose iterations");
    }

    private static long ResidentBytes()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        if (File.Exists("/proc/self/status"))
        {
            var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        }

        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64;
    }
}
