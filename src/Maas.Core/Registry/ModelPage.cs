namespace Maas.Core.Registry;

/// <summary>One page of a model search and the total number that matched.</summary>
public sealed record ModelPage(IReadOnlyList<Model> Models, int Total);
