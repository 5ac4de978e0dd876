namespace Maas.Runtimes.Llama.Native;

/// <summary>Mirror of <c>enum ggml_opt_optimizer_type</c> of the pinned ggml-opt.h.</summary>
internal enum GgmlOptOptimizerType
{
    AdamW = 0,
    Sgd = 1,
}
