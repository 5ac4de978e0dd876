using Maas.Core.Formats;
using Maas.Core.Formats.Onnx;
using Maas.Core.Registry;
using Maas.Testing;
using Xunit.Abstractions;

namespace Maas.Core.Tests.Formats;

/// <summary>
/// The corpus of hostile model files through the same validation an upload runs (format detection, the ONNX or
/// GGUF reader, the signature): every file is refused with invalid_model_file (or unknown_format) or accepted, and
/// validating it allocates at most a small multiple of its size.
/// </summary>
public sealed class HostileModelFileTests(ITestOutputHelper output) : IDisposable
{
    // Allocation allowed per byte of file, plus a fixed allowance for buffers and the reader's own tables.
    private const int AllocationPerByte = 16;
    private const long AllocationAllowance = 1 << 20;

    private readonly string _dir = Directory.CreateTempSubdirectory("maas-hostile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Every_file_of_the_corpus_is_refused_cleanly_or_accepted_within_a_memory_bound()
    {
        var corpus = HostileModels.Corpus();
        Assert.InRange(corpus.Count, 300, 600);
        int refused = 0, accepted = 0;
        double worstRatio = 0;
        var worst = "";
        foreach (var sample in corpus)
        {
            var folder = Path.Combine(_dir, (refused + accepted).ToString(System.Globalization.CultureInfo.InvariantCulture));
            Directory.CreateDirectory(folder);
            File.WriteAllBytes(Path.Combine(folder, sample.FileName), sample.Bytes);

            var before = GC.GetAllocatedBytesForCurrentThread();
            var outcome = Validate(folder, sample.FileName);
            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

            if (outcome is null)
            {
                accepted++;
            }
            else
            {
                refused++;
                Assert.True(outcome.Code is "invalid_model_file" or "unknown_format", $"{sample}: {outcome.Code} {outcome.Message}");
            }

            Assert.True(
                allocated <= (AllocationPerByte * sample.Bytes.Length) + AllocationAllowance,
                $"{sample}: validating it allocated {allocated} bytes, more than {AllocationPerByte}x its size plus {AllocationAllowance}");
            var ratio = (double)allocated / Math.Max(1, sample.Bytes.Length);
            if (sample.Bytes.Length > 4096 && ratio > worstRatio)
            {
                (worstRatio, worst) = (ratio, sample.Description);
            }
        }

        output.WriteLine($"{corpus.Count} files: {refused} refused, {accepted} accepted; worst allocation {worstRatio:F2}x the file size ({worst})");
        Assert.True(refused > corpus.Count / 2, $"only {refused} of {corpus.Count} refused: the mutations are too gentle to test anything");
        Assert.True(accepted >= 3, "the unchanged bases must be accepted");
    }

    [Fact]
    public void Hand_made_attacks_are_refused_with_the_reason()
    {
        var expected = new Dictionary<string, string>
        {
            ["subgraphs nested 400 deep"] = "nest more than 64 deep",
            ["more graph inputs than allowed"] = "more than 65536 inputs",
            ["initializer with an overflowing shape"] = "impossible shape",
            ["initializer with a negative dimension"] = "impossible shape",
            ["inline tensor shorter than its shape"] = "needs 4000",
            ["external data naming two locations"] = "external data key 'location' twice",
            ["external data at ONNX Runtime's memory marker"] = "outside the model's folder",
            ["external data with a NUL in its path"] = "outside the model's folder",
            ["external data with a negative length"] = "not a non-negative number",
            ["the graph field twice"] = "appears twice",
            ["a length past the end of the file"] = "truncated protobuf",
            ["a varint longer than ten bytes"] = "longer than 10 bytes",
            ["a group wire type"] = "wire type 3",
            ["GGUF tensor count of 2^62"] = "implausible tensor count",
            ["GGUF array of 2^40 strings"] = "claims 1099511627776 elements",
            ["GGUF array of arrays"] = "array of arrays",
            ["GGUF with fewer token scores than tokens"] = "tokenizer.ggml.scores must be an array of 3 Float32 values",
            ["GGUF with token scores as strings"] = "tokenizer.ggml.scores must be an array of 3 Float32 values",
        };
        var corpus = HostileModels.Corpus().DistinctBy(m => m.Description).ToDictionary(m => m.Description);
        foreach (var (name, reason) in expected)
        {
            var sample = corpus[name];
            var folder = Directory.CreateTempSubdirectory("case-").FullName;
            try
            {
                File.WriteAllBytes(Path.Combine(folder, sample.FileName), sample.Bytes);
                var error = Validate(folder, sample.FileName);
                Assert.True(error is not null, $"{name} was accepted");
                Assert.True(error.Code == "invalid_model_file" && error.Message.Contains(reason, StringComparison.Ordinal), $"{name}: {error.Code} {error.Message}");
            }
            finally
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    [Fact]
    public void A_flood_of_empty_messages_costs_the_reader_far_less_than_a_protobuf_parse()
    {
        var flood = HostileModels.Corpus().Single(m => m.Description == "100000 empty nodes and initializers").Bytes;
        var path = Path.Combine(_dir, "flood.onnx");
        File.WriteAllBytes(path, flood);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var info = OnnxModelReader.Read(path);
        var read = GC.GetAllocatedBytesForCurrentThread() - before;
        before = GC.GetAllocatedBytesForCurrentThread();
        OnnxModelReader.Parse(path);
        var parsed = GC.GetAllocatedBytesForCurrentThread() - before;

        output.WriteLine($"{flood.Length} bytes: the reader allocated {read} bytes, a full protobuf parse {parsed}");
        Assert.Equal(100_000 + 4, info.InitializerCount); // The flood and the MLP's two weights and two biases.
        Assert.True(read < 2L * flood.Length, $"the reader allocated {read} bytes for a {flood.Length}-byte file");
        Assert.True(parsed > 10 * read, "a full parse should cost far more; the flood is not testing anything");
    }

    [Theory]
    [MemberData(nameof(Containers))]
    public void External_data_is_checked_in_every_tensor_container(string container)
    {
        var folder = Path.Combine(_dir, "model");
        Directory.CreateDirectory(folder);
        File.WriteAllBytes(Path.Combine(_dir, "escape.bin"), new byte[64]);
        File.WriteAllBytes(Path.Combine(folder, "w.bin"), new byte[16]);

        // Inside the folder: read, listed as the model's external data, and the upload of both files is accepted.
        File.WriteAllBytes(Path.Combine(folder, "model.onnx"), HostileModels.MlpWith(container, HostileModels.ExternalTensor("w", "w.bin")));
        Assert.Equal(["w.bin"], OnnxModelReader.Read(Path.Combine(folder, "model.onnx")).ExternalDataFiles);
        ArtifactInspector.Inspect(folder, "model.onnx", ["model.onnx", "w.bin"]);

        foreach (var (location, reason) in new[]
        {
            ("../escape.bin", "outside the model's folder"),
            (Path.Combine(_dir, "escape.bin"), "outside the model's folder"),
            ("sub/../../escape.bin", "outside the model's folder"),
            ("missing.bin", "is missing"),
        })
        {
            File.WriteAllBytes(Path.Combine(folder, "model.onnx"), HostileModels.MlpWith(container, HostileModels.ExternalTensor("w", location)));
            var error = Validate(folder, "model.onnx");
            Assert.True(error is not null, $"{container} reading '{location}' was accepted");
            Assert.Equal("invalid_model_file", error.Code);
            Assert.Contains(reason, error.Message, StringComparison.Ordinal);
        }

        // Past the end of a file that is there.
        File.WriteAllBytes(Path.Combine(folder, "model.onnx"), HostileModels.MlpWith(container, HostileModels.ExternalTensor("w", "w.bin", 8)));
        Assert.Contains("ends at byte 24", Validate(folder, "model.onnx")?.Message ?? "accepted", StringComparison.Ordinal);
    }

    public static TheoryData<string> Containers() => [.. HostileModels.TensorContainers];

    [Fact]
    public void The_model_with_every_container_reads_with_its_signature()
    {
        var path = Path.Combine(_dir, "every.onnx");
        File.WriteAllBytes(path, HostileModels.OnnxWithEveryContainer());

        var info = OnnxModelReader.Read(path);

        Assert.Equal("input", Assert.Single(info.Inputs).Name);
        Assert.Equal("output", Assert.Single(info.Outputs).Name);
        Assert.Empty(info.ExternalDataFiles);
    }

    private static RegistryException? Validate(string folder, string file)
    {
        try
        {
            ArtifactInspector.Inspect(folder, file, [file]);
            return null;
        }
        catch (RegistryException e)
        {
            return e;
        }
        catch (InvalidModelFileException e)
        {
            Assert.Fail($"the reader's error escaped the inspector: {e.Message}");
            return null;
        }
    }
}
