namespace Maas.Core.Llm;

/// <summary>The longest cached prefix of a prompt, and which cache entry (KV sequence) holds it.</summary>
/// <param name="EntryId">The entry (for the engine: the slot's sequence id).</param>
/// <param name="Length">How many leading tokens of the prompt the entry already holds.</param>
/// <param name="Complete">
/// The entry holds the whole prompt and the logits after its last token, so generation can start without a decode.
/// </param>
public readonly record struct PrefixMatch(int EntryId, int Length, bool Complete = false);
