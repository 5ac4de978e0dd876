using Maas.Core.Formats;

namespace Maas.Core.Registry;

/// <summary>What validation learned from an artifact: its format and the signature the file declares.</summary>
public sealed record InspectedArtifact(ModelFormat Format, ModelSignature Signature);
