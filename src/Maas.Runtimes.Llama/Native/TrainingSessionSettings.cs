namespace Maas.Runtimes.Llama.Native;

/// <summary>How a <see cref="LlamaTrainingSession"/> sizes its context and optimizer.</summary>
/// <param name="Window">Tokens per packed training window (the context size, n_ctx).</param>
/// <param name="TokensPerStep">Tokens per optimizer step (n_batch; divides <paramref name="Window"/>; the window itself makes one step per window).</param>
/// <param name="MicroBatch">Tokens per forward/backward graph (n_ubatch; divides <paramref name="TokensPerStep"/>).</param>
/// <param name="Threads">CPU threads the computations use.</param>
/// <param name="FirstTrainedLayer">Layers below this index stay frozen (0 trains every layer); output and norms outside the layers always train.</param>
internal sealed record TrainingSessionSettings(int Window, int TokensPerStep, int MicroBatch, int Threads, int FirstTrainedLayer);
