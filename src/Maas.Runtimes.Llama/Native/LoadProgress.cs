namespace Maas.Runtimes.Llama.Native;

/// <summary>What the model-load progress callback reports to and reads from: the user's callback, the token, the outcome.</summary>
internal sealed class LoadProgress(Func<float, bool>? callback, CancellationToken token)
{
    public Func<float, bool>? Callback { get; } = callback;

    public CancellationToken Token { get; } = token;

    public bool Aborted { get; set; }

    public Exception? Error { get; set; }
}
