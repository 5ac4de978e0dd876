namespace Maas.Core.Llm;

/// <summary>One alternative token at a position and its log probability.</summary>
/// <param name="TokenId">The vocabulary id.</param>
/// <param name="Token">The token's text (may be a partial UTF-8 character, see <paramref name="Bytes"/>).</param>
/// <param name="Bytes">The token's exact bytes.</param>
/// <param name="Logprob">Natural log of its probability under the model.</param>
public sealed record TopLogprob(int TokenId, string Token, byte[] Bytes, float Logprob);
