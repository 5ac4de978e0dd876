namespace Maas.Runtimes.Ggml;

/// <summary>How ggml-opt trains a network: optimiser, its settings, batch size, threads and seed.</summary>
public sealed record GgmlTrainingOptions
{
    /// <summary>"adamw" or "sgd".</summary>
    public string Optimizer { get; init; } = "adamw";

    /// <summary>The step size.</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>Decoupled weight decay (0 to 1).</summary>
    public double WeightDecay { get; init; }

    /// <summary>AdamW's first momentum.</summary>
    public double Beta1 { get; init; } = 0.9;

    /// <summary>AdamW's second momentum.</summary>
    public double Beta2 { get; init; } = 0.999;

    /// <summary>Examples per optimiser step (the graph is built for this many).</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>
    /// The most CPU threads training computes with. With two or more, a step computes two halves of the batch on a
    /// thread each (see <see cref="DataParallel"/>; ggml threads each operation instead for a network with batch norm).
    /// Now and then the trainer times a step on one thread against all of them and goes on with the faster.
    /// </summary>
    public int Threads { get; init; } = 1;

    /// <summary>
    /// 0 computes on the caller's thread; 1 to 19 computes on a thread of its own at that nice value (Linux), so
    /// training gives way to other work such as serving on the same machine.
    /// </summary>
    public int Nice { get; init; }

    /// <summary>
    /// Whether a convolution whose input has a gradient gathers its columns with ggml_get_rows (true) or unrolls them
    /// with im2col (false, the path before; kept to check the gradients of one against the other).
    /// </summary>
    internal bool GatherColumns { get; init; } = true;

    /// <summary>
    /// Whether a convolution whose input has no gradient (the first) enlarges its kxk kernel to (k+1)x(k+1) with zeros
    /// when that makes its contraction C·k·k (e.g. 9) a multiple of 16, so its forward product takes ggml's tiled GEMM
    /// instead of one short dot product per output. Off: it measured no faster per CPU second on the default CNN (the
    /// larger im2col and the kernel gradient's out_prod, whose rows stay as short, ate the gain; docs/benchmarks.md);
    /// kept, tested equal, for the benchmark's --compare-padded and for CPUs where the balance differs.
    /// </summary>
    internal bool PadContraction { get; init; }

    /// <summary>
    /// Whether a convolution with gathered columns (see <see cref="GatherColumns"/>) gathers zero rows after each
    /// position's k·k pixels when that makes its contraction C·k·k a multiple of what ggml's tiled GEMM needs (16 floats
    /// with AVX-512, 8 with AVX2; e.g. 72 -> 80 for the default CNN's second convolution on AVX-512), so its forward
    /// product takes the tiled GEMM instead of one short dot product per output. The kernel is copied into zeros of the
    /// padded size; the values are the same sums (docs/benchmarks.md, issue #15).
    /// </summary>
    internal bool PadGatheredContraction { get; init; } = true;

    /// <summary>
    /// Whether the training graph computes a 2x2, stride-2 max-pool that follows a convolution (and its ReLU) from the
    /// convolution's four quadrants (the outputs at even/odd columns and rows, each its own product: gathered columns in
    /// that order, or for a first "same" convolution four strided im2cols) as max(a, b) = a + relu(b - a), whose
    /// operations and gradients are vectorised, instead of ggml's pool_2d / pool_2d_back (scalar loops). The first of
    /// equal values takes the gradient, as in pool_2d_back. The inference graph computes the pool the same way (a
    /// gathered convolution's index lists the quadrants); the values equal a max within a rounding of the largest.
    /// </summary>
    internal bool PoolByQuadrants { get; init; } = true;

    /// <summary>
    /// Whether, with two or more threads, each step splits the batch in two halves whose forward and backward passes
    /// run on one thread each (two single-threaded ggml graphs on the same weights), the gradients summed in a fixed
    /// order and the optimiser step taken here: ggml's per-operation threading meets at a barrier after every node,
    /// which a network this small does not pay for. Off for networks with batch norm (whose statistics are the whole
    /// batch's). The same seed gives the same weights with one thread or two (docs/benchmarks.md, issue #15).
    /// </summary>
    internal bool DataParallel { get; init; } = true;

    /// <summary>Seeds the weights, the shuffle and dropout: the same seed trains the same network.</summary>
    public int Seed { get; init; } = 42;
}
