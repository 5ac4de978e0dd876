namespace Maas.Optimization.Onnx;

/// <summary>
/// Called at each step of an ONNX rewrite's loop (<paramref name="loop"/> names the rewriter, e.g.
/// <c>nameof(OnnxInt8Quantizer)</c>) before the step's work, with the job's token. Null in production; a test holds a
/// rewrite inside its loop with it (registered as a service, <see cref="OptimizationJobHandler"/> takes it).
/// </summary>
public delegate void OptimizationRewriteStep(string loop, CancellationToken cancellationToken);
