namespace Maas.Core.Registry.Import;

/// <summary>One import at one <see cref="ImportStep"/>: its model, version and job's cancellation.</summary>
internal sealed record ImportCheckpoint(string Model, int Version, ImportStep Step, CancellationToken Cancellation);
