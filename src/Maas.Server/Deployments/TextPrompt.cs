namespace Maas.Server.Deployments;

/// <summary>One prompt of a text call as one engine tokenized it, with the stops that engine's template adds.</summary>
internal sealed record TextPrompt(IReadOnlyList<int> Tokens, IReadOnlyList<string> ExtraStops);
