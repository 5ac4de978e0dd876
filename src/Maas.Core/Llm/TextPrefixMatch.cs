namespace Maas.Core.Llm;

/// <summary>
/// How much of a prompt's text a cached token sequence already holds: the first <paramref name="CachedTokens"/> cached
/// tokens spell the same <paramref name="Bytes"/> bytes as the first <paramref name="PromptTokens"/> prompt tokens.
/// </summary>
public readonly record struct TextPrefixMatch(int CachedTokens, int PromptTokens, int Bytes);
