using Maas.Core.Formats;

namespace Maas.Optimization;

/// <summary>One optimisation method: its name, the format it works on, the lineage relation it records and its options.</summary>
public sealed record OptimizationMethod(string Name, ModelFormat Format, string Relation, IReadOnlyList<string> Options);
