using Maas.Core.Formats;
using Maas.Core.Formats.Gguf;
using Maas.Core.Formats.Onnx;
using Maas.Core.Registry;

namespace Maas.Core.Tests.Registry;

/// <summary>
/// The format check of a model file (<see cref="ArtifactInspector"/>, which an import runs while a cancel may still
/// stop it) observes its cancellation token while it reads: a large file's check stops within a buffer of a cancel
/// rather than reading on to its end.
/// </summary>
public sealed class ModelFileCheckCancellationTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("maas-check-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    // A GGUF whose header alone is 4 MiB (a large metadata array, as a big vocabulary makes it): many buffers to read.
    private static byte[] GgufWithLargeHeader()
    {
        using var stream = new MemoryStream();
        using (var writer = new GgufWriter(stream, leaveOpen: true))
        {
            writer.Add("general.architecture", "test").Add("test.scores", GgufValue.From(new float[1 << 20]));
            writer.Finish();
        }

        return stream.ToArray();
    }

    [Fact]
    public void A_cancel_during_a_large_gguf_header_stops_the_read_within_a_buffer()
    {
        var bytes = GgufWithLargeHeader();
        Assert.Equal(1 << 20, GgufReader.Read(new MemoryStream(bytes), new CancellationTokenSource().Token).Get("test.scores")!.ArrayLength);

        using var cancel = new CancellationTokenSource();
        var source = new CancelOnFirstRead(bytes, cancel);
        Assert.Throws<OperationCanceledException>(() => GgufReader.Read(source, cancel.Token));
        Assert.True(source.BytesRead <= 1 << 16, $"read {source.BytesRead} of {bytes.Length} bytes after the cancel");
    }

    [Fact]
    public void A_check_whose_token_fired_throws_cancelled_not_a_refusal_for_both_formats()
    {
        File.WriteAllBytes(Path.Combine(_folder, "m.onnx"), OnnxModelWriter.Mlp(4, [8], 3, 1).ToBytes());
        File.WriteAllBytes(Path.Combine(_folder, "big.gguf"), GgufWithLargeHeader());
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();

        Assert.Throws<OperationCanceledException>(() => OnnxModelReader.Read(Path.Combine(_folder, "m.onnx"), cancel.Token));
        Assert.Throws<OperationCanceledException>(() => GgufSignatures.Read(Path.Combine(_folder, "big.gguf"), cancel.Token));
        foreach (var file in new[] { "m.onnx", "big.gguf" })
        {
            Assert.Throws<OperationCanceledException>(() => ArtifactInspector.Inspect(_folder, file, [file], cancel.Token));
        }

        // Without a cancel the same check passes.
        Assert.Equal(ModelFormat.Onnx, ArtifactInspector.Inspect(_folder, "m.onnx", ["m.onnx"], CancellationToken.None).Format);
    }

    // A file whose first read fires the cancel, as a cancel arriving while the check is under way would.
    private sealed class CancelOnFirstRead(byte[] bytes, CancellationTokenSource cancel) : MemoryStream(bytes, writable: false)
    {
        public long BytesRead { get; private set; }

        public override int Read(byte[] buffer, int offset, int count) => Count(base.Read(buffer, offset, count));

        public override int Read(Span<byte> buffer) => Count(base.Read(buffer));

        private int Count(int read)
        {
            BytesRead += read;
            cancel.Cancel();
            return read;
        }
    }
}
