namespace Maas.Core.Llm;

/// <summary>A generated token with its log probability and the most likely alternatives at its position.</summary>
/// <param name="TokenId">The vocabulary id.</param>
/// <param name="Token">The token's text.</param>
/// <param name="Bytes">The token's exact bytes.</param>
/// <param name="Logprob">Natural log of its probability under the model.</param>
/// <param name="Top">The most likely tokens at this position, best first.</param>
public sealed record TokenLogprob(int TokenId, string Token, byte[] Bytes, float Logprob, IReadOnlyList<TopLogprob> Top)
{
    /// <summary>True for a token without a log probability: a prompt's first (NaN, no alternatives).</summary>
    public bool Unscored => float.IsNaN(Logprob);
}
