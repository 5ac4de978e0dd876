namespace Maas.Optimization.Onnx;

/// <summary>
/// What the ONNX rewriters call once per item of their loops (each initializer, weight or node): stops the rewrite at
/// that item once the job's token fired, so a cancel on a large model does not wait for the whole rewrite. A check
/// per tensor or node costs nothing beside the work on it.
/// </summary>
public sealed class RewriteSteps(CancellationToken cancellationToken, OptimizationRewriteStep? hook = null)
{
    /// <summary>Steps that never stop (a rewrite outside a job).</summary>
    public static RewriteSteps None { get; } = new(CancellationToken.None);

    /// <summary>The token the steps watch.</summary>
    public CancellationToken CancellationToken => cancellationToken;

    /// <summary>One step of <paramref name="loop"/>: throws <see cref="OperationCanceledException"/> once the token fired.</summary>
    public void Step(string loop)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (hook is not null)
        {
            hook(loop, cancellationToken);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }
}
