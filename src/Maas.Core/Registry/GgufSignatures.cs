using Maas.Core.Formats;

namespace Maas.Core.Registry;

/// <summary>Reads a GGUF file's signature (architecture, sizes, quantisation, chat template) through the GGUF reader.</summary>
public static class GgufSignatures
{
    /// <summary>Reads and validates the file; throws <see cref="InvalidModelFileException"/> when it is not usable.</summary>
    public static ModelSignature Read(string path) => throw new InvalidModelFileException("the GGUF reader is not available yet: " + path);
}
