using System.Runtime.InteropServices;

namespace Maas.Runtimes.Llama.Native;

/// <summary>Mirror of <c>struct llama_token_data</c>: one candidate token with its logit and probability.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct LlamaTokenData
{
    /// <summary>Token id.</summary>
    public int Id;

    /// <summary>Log-odds of the token (after the samplers that ran so far).</summary>
    public float Logit;

    /// <summary>Probability of the token; valid once a sampler computed the softmax.</summary>
    public float P;
}
