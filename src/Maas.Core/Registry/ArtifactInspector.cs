using Maas.Core.Formats;
using Maas.Core.Formats.Onnx;

namespace Maas.Core.Registry;

/// <summary>Validates a staged artifact with the format readers and reads its signature; refuses what cannot be served.</summary>
public static class ArtifactInspector
{
    /// <summary>
    /// Inspects the staged files in <paramref name="folder"/>: <paramref name="primary"/> is the model file, the
    /// others must be the external data files it references. Throws invalid_model_file with the reader's reason, and
    /// <see cref="OperationCanceledException"/> once <paramref name="cancellationToken"/> fires (the readers check it
    /// before each read of the file, so a large model's check stops within one buffer of a cancel).
    /// </summary>
    public static InspectedArtifact Inspect(string folder, string primary, IReadOnlyCollection<string> files, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var path = Path.Combine(folder, primary);
        var format = ModelFormatDetector.Detect(path) ?? throw RegistryException.Invalid(
            "unknown_format",
            $"'{primary}' is neither an ONNX model nor a GGUF file (its first bytes match neither format)");
        try
        {
            return format switch
            {
                ModelFormat.Onnx => InspectOnnx(path, primary, files, cancellationToken),
                ModelFormat.Gguf => InspectGguf(path, primary, files, cancellationToken),
                _ => throw new InvalidOperationException($"no inspector for {format}"),
            };
        }
        catch (InvalidModelFileException e)
        {
            throw RegistryException.Invalid("invalid_model_file", $"'{primary}' was refused: {e.Message}", null, e);
        }
    }

    /// <summary>
    /// The class labels the ONNX file at <paramref name="path"/> names for its outputs (as <see cref="Inspect"/> reads
    /// them into <see cref="ModelSignature.ClassLabels"/>), or null when it names none or cannot be read.
    /// </summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<string>>? ReadClassLabels(string path, CancellationToken cancellationToken = default)
    {
        try
        {
            var labels = OnnxModelReader.Read(path, cancellationToken).ClassLabels;
            return labels.Count == 0 ? null : labels;
        }
        catch (InvalidModelFileException)
        {
            return null; // it was read at upload: what fails now is the file's serving's to report, not this
        }
    }

    private static InspectedArtifact InspectOnnx(string path, string primary, IReadOnlyCollection<string> files, CancellationToken cancellationToken)
    {
        var info = OnnxModelReader.Read(path, cancellationToken);
        var referenced = info.ExternalDataFiles.ToHashSet(StringComparer.Ordinal);
        foreach (var file in files)
        {
            if (file != primary && !referenced.Contains(file))
            {
                throw RegistryException.Invalid(
                    "unexpected_file",
                    $"'{file}' was uploaded with '{primary}' but the model does not reference it as external data " +
                    $"(it references: {(referenced.Count == 0 ? "nothing" : string.Join(", ", referenced))})");
            }
        }

        var signature = new ModelSignature
        {
            Inputs = info.Inputs.Select(Describe).ToArray(),
            Outputs = info.Outputs.Select(Describe).ToArray(),
            Producer = info.ProducerName,
            ProducerVersion = info.ProducerVersion,
            IrVersion = info.IrVersion,
            Opsets = info.Opsets.GroupBy(o => o.Domain).ToDictionary(g => g.Key, g => g.Max(o => o.Version)),
            FileMetadata = info.Metadata.Count == 0 ? null : info.Metadata,
            ClassLabels = info.ClassLabels.Count == 0 ? null : info.ClassLabels,
        };
        return new InspectedArtifact(ModelFormat.Onnx, signature);
    }

    private static TensorSignature Describe(OnnxValueInfo value) => new(
        value.Name,
        value.KServeDatatype,
        value.Dims,
        value.Shape.Any(d => d.Name is not null) ? value.Shape.Select(d => d.Name).ToArray() : null);

    private static InspectedArtifact InspectGguf(string path, string primary, IReadOnlyCollection<string> files, CancellationToken cancellationToken)
    {
        if (files.Count > 1)
        {
            throw RegistryException.Invalid(
                "unexpected_file",
                $"a GGUF version is one file, but {files.Count} were uploaded with '{primary}'");
        }

        return new InspectedArtifact(ModelFormat.Gguf, GgufSignatures.Read(path, cancellationToken));
    }
}
