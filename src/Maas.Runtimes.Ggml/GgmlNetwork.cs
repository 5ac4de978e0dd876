using Maas.Core.Hosting;
using Maas.Core.Training;
using Maas.Runtimes.Ggml.Native;

namespace Maas.Runtimes.Ggml;

/// <summary>
/// A layered network built as a ggml graph and trained by ggml-opt on the CPU. Images enter as [channels, height,
/// width] floats per example (ggml's [W, H, C, N], the same memory order as ONNX's NCHW); the graph ends at the class
/// scores (ggml-opt's cross-entropy applies the softmax). A second graph without dropout answers forward passes.
/// </summary>
public sealed class GgmlNetwork : IDisposable
{
    private const int GraphSize = 2048;

    private const float NormEpsilon = 1e-5f;

    // PyTorch's default: each batch moves the running statistics a tenth of the way to its own.
    private const float BatchNormMomentum = 0.1f;

    // The tanh form of GELU: x·σ(√(8/π)·(x + 0.044715·x³)); the ONNX export writes the same formula.
    private const float GeluScale = 1.5957691216057308f;
    private const float GeluCubic = 0.044715f;

    private readonly GgmlCpuBackend backend;
    private readonly SafeGgmlSchedHandle inferSched;
    private readonly SafeGgmlContextHandle staticContext;
    private readonly SafeGgmlContextHandle trainContext;
    private readonly SafeGgmlContextHandle inferContext;
    private readonly SafeGgmlBufferHandle staticBuffer;
    private readonly SafeGgmlContextHandle statisticsContext;
    private readonly SafeGgmlBufferHandle? statisticsBuffer;
    private readonly SafeGgmlOptHandle opt;
    private readonly SafeGgmlOptResultHandle trainResult;
    private readonly List<LayerTensors> tensors = [];
    private readonly List<(IntPtr Mask, long Size, double Rate)> dropouts = [];
    private readonly IntPtr trainInput;
    private readonly IntPtr inferInput;
    private readonly IntPtr inferOutput;
    private readonly IntPtr inferGraph;
    private readonly Random random;
    private readonly float[] ones;
    private readonly GgmlOptOptimizerParams settings;
    private readonly List<(IntPtr M, IntPtr V, long Count)> moments = [];
    private readonly List<string> parameterNames = [];
    private readonly ThreadChooser threadChooser;
    private readonly NiceThread? niceThread;
    private readonly Dictionary<int, (int Conv, bool Relu)> biasAfterPool;

    // Convolutions whose following max-pool the training graph computes from four quadrant products (see
    // GgmlTrainingOptions.PoolByQuadrants), and the pool layers they stand for.
    private readonly HashSet<int> quadrantConvs = [];

    // Data parallelism (GgmlTrainingOptions.DataParallel): the two halves' networks, the thread the second computes
    // on, and, in a half's network, its share of the step (inputs, labels, dropout masks in; gradients out).
    private readonly GgmlNetwork[]? halves;
    private readonly NiceThread? halfThread;
    private readonly IntPtr[] gradientTensors = [];
    private readonly float[] halfInput = [];
    private readonly float[] halfLabels = [];
    private readonly float[][] halfMasks = [];
    private readonly float[][] halfGradients = [];
    private readonly IntPtr[] parameterTensors;
    private float[][] halfWeights = [];
    private int epoch;

    // Optimiser steps of the whole run (a resumed one included), and those this ggml-opt context took: ggml counts
    // its own steps from 1 for AdamW's bias correction, so a resumed run corrects for the difference.
    private long steps;
    private long contextSteps;

    // A half's network accumulates its gradients over this many evaluations before ggml-opt would step (it never
    // gets there: the accumulators are reset before each half-step). A power of two, so the loss scale 1/period that
    // ggml-opt applies is exact and undone exactly.
    private const int HalfPeriod = 1 << 30;

    private GgmlNetwork(IReadOnlyList<NetworkLayer> layers, IReadOnlyList<NetworkShape> shapes, NetworkShape input, int classes, GgmlTrainingOptions options, bool half = false)
    {
        Layers = layers;
        Shapes = shapes;
        Input = input;
        Classes = classes;
        Options = options;
        random = new Random(options.Seed);
        threadChooser = new ThreadChooser(options.Threads);
        niceThread = options.Nice > 0 ? new NiceThread("ggml training", options.Nice) : null;
        biasAfterPool = BiasAfterPool(layers);
        var batch = options.BatchSize;
        backend = GgmlCpuBackend.Create(options.Threads, GraphSize * 2);
        try
        {
            inferSched = backend.NewSched(GraphSize);
            var overhead = (long)GgmlApi.ggml_tensor_overhead();
            staticContext = Context((6 * layers.Count + 8) * overhead);
            var c = input.Dims;
            trainInput = GgmlApi.ggml_new_tensor_4d(staticContext, GgmlType.F32, c[2], c[1], c[0], batch);
            GgmlApi.ggml_set_name(trainInput, "input");
            inferInput = GgmlApi.ggml_new_tensor_4d(staticContext, GgmlType.F32, c[2], c[1], c[0], batch);
            GgmlApi.ggml_set_name(inferInput, "infer_input");
            foreach (var (pool, fold) in biasAfterPool)
            {
                var p = layers[pool];
                var o = shapes[fold.Conv];
                if (options.PoolByQuadrants && p.Type == "max_pool" && p.Kernel == 2 && p.Stride == 2 && o.Dims[1] % 2 == 0 && o.Dims[2] % 2 == 0)
                {
                    quadrantConvs.Add(fold.Conv);
                }
            }

            for (var i = 0; i < layers.Count; i++)
            {
                tensors.Add(CreateParameters(i, i == 0 ? input : shapes[i - 1]));
            }

            // A convolution on im2col gets quadrants only as a first "same" convolution (see QuadrantConv2d).
            quadrantConvs.RemoveWhere(i => tensors[i].Gather is null && !SameFirstConvolution(i));

            parameterTensors = tensors.SelectMany(t => t.Parameters).Select(p => p.Tensor).ToArray();
            staticBuffer = SafeGgmlBufferHandle.Wrap(GgmlApi.ggml_backend_alloc_ctx_tensors(staticContext, backend.Backend), "ggml_backend_alloc_ctx_tensors");
            foreach (var gather in tensors.Select(t => t.Gather).OfType<ColumnGather>())
            {
                GgmlTensorData.Set<int>(gather.Rows, gather.Index);

                Set(gather.Zeros, new float[Elements(gather.Zeros)]);
                if (gather.KernelZeros != IntPtr.Zero)
                {
                    Set(gather.KernelZeros, new float[Elements(gather.KernelZeros)]);
                }
            }

            foreach (var zeros in tensors.Select(t => t.KernelZeros).Where(z => z != IntPtr.Zero))
            {
                Set(zeros, new float[Elements(zeros)]);
            }
            ones = new float[dropouts.Count == 0 ? 0 : dropouts.Max(d => d.Size) * batch];
            Array.Fill(ones, 1f);

            var graphBytes = (long)GgmlApi.ggml_graph_overhead_custom(GraphSize, true);
            trainContext = Context((16 * GraphSize * overhead) + (4 * graphBytes));
            statisticsContext = Context((2 * layers.Count + 1) * overhead);
            var output = Forward(trainContext, trainInput, training: true);
            CheckShape(output, classes, batch);

            // ggml-opt computes a copy of the graph; a result that already has memory keeps it in the copy (as
            // ggml-opt's own loss does), so the batch statistics are allocated here to be readable after each step.
            if (tensors.Any(t => t.Norm is not null))
            {
                statisticsBuffer = SafeGgmlBufferHandle.Wrap(GgmlApi.ggml_backend_alloc_ctx_tensors(statisticsContext, backend.Backend), "ggml_backend_alloc_ctx_tensors");
            }

            var optimizerParams = GgmlApi.ggml_opt_get_default_optimizer_params(IntPtr.Zero);
            var optimizer = options.Optimizer == "sgd" ? GgmlOptimizerType.Sgd : GgmlOptimizerType.AdamW;
            optimizerParams.AdamwAlpha = optimizerParams.SgdAlpha = (float)options.LearningRate;
            optimizerParams.AdamwWd = optimizerParams.SgdWd = (float)options.WeightDecay;
            optimizerParams.AdamwBeta1 = (float)options.Beta1;
            optimizerParams.AdamwBeta2 = (float)options.Beta2;
            opt = SafeGgmlOptHandle.Create(backend.Sched, trainContext, trainInput, output, optimizer, optimizerParams, half ? HalfPeriod : 1);
            settings = optimizerParams;
            if (half)
            {
                // The gradient accumulators ggml-opt keeps for each weight, read after each half-step.
                var parameters = tensors.SelectMany(t => t.Parameters).ToArray();
                gradientTensors = parameters.Select(p => GgmlApi.ggml_opt_grad_acc(opt, p.Tensor)).ToArray();
                if (gradientTensors.Zip(parameters).Any(g => g.First == IntPtr.Zero || Elements(g.First) != g.Second.Count))
                {
                    throw new GgmlException("ggml-opt keeps no gradient accumulator of a weight's size");
                }

                halfInput = new float[batch * input.Size];
                halfLabels = new float[batch * classes];
                halfMasks = dropouts.Select(d => new float[d.Size * batch]).ToArray();
                halfGradients = parameters.Select(p => new float[p.Count]).ToArray();
            }
            else if (optimizer == GgmlOptimizerType.AdamW)
            {
                FindMoments();
            }

            trainResult = SafeGgmlOptResultHandle.Wrap(GgmlApi.ggml_opt_result_init(), "ggml_opt_result_init");

            inferContext = Context((4 * GraphSize * overhead) + graphBytes);
            inferOutput = Forward(inferContext, inferInput, training: false);
            GgmlApi.ggml_set_input(inferInput);
            GgmlApi.ggml_set_output(inferOutput);
            inferGraph = GgmlApi.ggml_new_graph_custom(inferContext, GraphSize, false);
            GgmlApi.ggml_build_forward_expand(inferGraph, inferOutput);
            if (!GgmlApi.ggml_backend_sched_alloc_graph(inferSched, inferGraph))
            {
                throw new GgmlException("ggml could not allocate the forward graph");
            }

            InitializeWeights();

            if (!half && options.DataParallel && options.Threads > 1 && batch > 1 && !tensors.Any(t => t.Norm is not null))
            {
                // Halves of ⌈B/2⌉ and ⌊B/2⌋ examples, single-threaded each, on a thread at the same nice value.
                var first = options with { BatchSize = (batch + 1) / 2, Threads = 1, Nice = 0 };
                halves = new GgmlNetwork[2];
                halves[0] = new GgmlNetwork(layers, shapes, input, classes, first, half: true);
                halves[1] = new GgmlNetwork(layers, shapes, input, classes, first with { BatchSize = batch / 2 }, half: true);
                halfThread = new NiceThread("ggml training half", options.Nice);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The engine that trains, for lineage: ggml of the pinned llama.cpp build.</summary>
    public static string Engine => $"ggml (llama.cpp build {GgmlLibrary.PinnedVersion})";

    /// <summary>The layers, with every size filled in.</summary>
    public IReadOnlyList<NetworkLayer> Layers { get; }

    /// <summary>The activation shape after each layer.</summary>
    public IReadOnlyList<NetworkShape> Shapes { get; }

    /// <summary>The input shape ([channels, height, width]).</summary>
    public NetworkShape Input { get; }

    /// <summary>The number of classes (scores per example).</summary>
    public int Classes { get; }

    /// <summary>The training settings.</summary>
    public GgmlTrainingOptions Options { get; }

    /// <summary>Convolutions that gather their columns with get_rows (the others use im2col).</summary>
    internal int GatheredConvolutions => tensors.Count(t => t.Gather is not null);

    /// <summary>Convolutions whose kernel is enlarged so their contraction is a multiple of 16 (see <see cref="GgmlTrainingOptions.PadContraction"/>).</summary>
    internal int PaddedConvolutions => tensors.Count(t => t.KernelZeros != IntPtr.Zero);

    /// <summary>Max-pools computed from their convolution's quadrants (see <see cref="GgmlTrainingOptions.PoolByQuadrants"/>).</summary>
    internal int QuadrantPools => quadrantConvs.Count;

    /// <summary>Whether each step computes two halves of the batch on a thread each (see <see cref="GgmlTrainingOptions.DataParallel"/>).</summary>
    internal bool DataParallel => halves is not null;

    /// <summary>Checks <paramref name="layers"/> for images of <paramref name="input"/> and builds the graphs (the weights initialised from the seed).</summary>
    public static GgmlNetwork Create(IReadOnlyList<NetworkLayer> layers, NetworkShape input, int classes, GgmlTrainingOptions options)
    {
        if (input.Dims.Length != 3 || input.Dims.Any(d => d < 1))
        {
            throw new NetworkException($"the input must be [channels, height, width], not {input}");
        }

        if (options.Nice is < 0 or > 19)
        {
            throw new ArgumentOutOfRangeException(nameof(options), $"the nice value must be between 0 and 19, not {options.Nice}");
        }

        if (options.BatchSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "the batch size must be at least 1");
        }

        var (resolved, shapes) = NetworkShapes.Check(layers, input, classes);
        return new GgmlNetwork(resolved, shapes, input, classes, options);
    }

    /// <summary>
    /// One epoch of mini-batch training over <paramref name="rows"/> of <paramref name="images"/> (each example
    /// <see cref="NetworkShape.Size"/> floats) in a shuffled order; a last partial batch is left out. After each batch
    /// <paramref name="batchDone"/> hears (batches done, batches) and <paramref name="gate"/> is asked, with the batch's
    /// compute time, whether to go on (it may wait, so that training gives way to serving).
    /// </summary>
    public GgmlEpoch TrainEpoch(float[] images, int[] labels, int[] rows, CancellationToken cancellationToken, Action<int, int>? batchDone = null, ITrainingGate? gate = null) =>
        niceThread is null
            ? TrainEpochHere(images, labels, rows, cancellationToken, batchDone, gate)
            : niceThread.Run(() => TrainEpochHere(images, labels, rows, cancellationToken, batchDone, gate));

    /// <summary>
    /// The class scores (logits) of <paramref name="rows"/>, <see cref="Classes"/> per example, from the graph without
    /// dropout; <paramref name="gate"/> is asked after each batch like in <see cref="TrainEpoch"/> (a validation pass
    /// gives way to serving too).
    /// </summary>
    public float[] Logits(float[] images, IReadOnlyList<int> rows, CancellationToken cancellationToken = default, ITrainingGate? gate = null) =>
        niceThread is null ? LogitsHere(images, rows, cancellationToken, gate) : niceThread.Run(() => LogitsHere(images, rows, cancellationToken, gate));

    private GgmlEpoch TrainEpochHere(float[] images, int[] labels, int[] rows, CancellationToken cancellationToken, Action<int, int>? batchDone, ITrainingGate? gate)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        epoch++;

        // Each epoch's shuffle and dropout come from the seed and the epoch's number, so a run resumed after epoch
        // n draws what an uninterrupted one would.
        var draws = new Random(unchecked((Options.Seed * 1_000_003) + epoch));
        var batch = Options.BatchSize;
        var size = (int)Input.Size;
        var order = (int[])rows.Clone();
        draws.Shuffle(order);
        var batches = order.Length / batch;
        var x = new float[batch * size];
        var y = new float[batch * Classes];
        var masks = dropouts.Select(d => new float[d.Size * batch]).ToArray();
        GgmlApi.ggml_opt_result_reset(trainResult);
        foreach (var h in halves ?? [])
        {
            GgmlApi.ggml_opt_result_reset(h.trainResult);
        }

        // The halves' weights and optimiser moments live here during the epoch and go back to the tensors after it.
        var state = halves is null ? null : LoadParallelState();
        try
        {
            for (var b = 0; b < batches; b++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var batchStarted = System.Diagnostics.Stopwatch.GetTimestamp();
                FillBatch(images, labels, order, b, x, y);
                DrawDropoutMasks(draws, masks);
                if (halves is not null)
                {
                    ParallelStep(state!, x, y, masks);
                    steps++;
                }
                else
                {
                    TrainStep(x, y);
                }

                var took = System.Diagnostics.Stopwatch.GetElapsedTime(batchStarted);
                batchDone?.Invoke(b + 1, batches);
                gate?.AfterBatch(took, cancellationToken);
            }
        }
        finally
        {
            if (state is not null)
            {
                StoreParallelState(state);
            }
        }

        var (loss, accuracy) = batches == 0 ? (double.NaN, double.NaN) : EpochLossAndAccuracy();
        return new GgmlEpoch(epoch, loss, accuracy, null, null, clock.Elapsed.TotalSeconds, (long)batches * batch, threadChooser.Chosen);
    }

    // Copies batch b's rows (in the epoch's shuffled order) into x and their one-hot labels into y.
    private void FillBatch(float[] images, int[] labels, int[] order, int b, float[] x, float[] y)
    {
        var batch = Options.BatchSize;
        var size = (int)Input.Size;
        Array.Clear(y);
        for (var j = 0; j < batch; j++)
        {
            var row = order[(b * batch) + j];
            Array.Copy(images, (long)row * size, x, (long)j * size, size);
            y[(j * Classes) + labels[row]] = 1f;
        }
    }

    // New inverted-dropout masks for one batch; the single graph reads them from its mask tensors, the halves from
    // the arrays.
    private void DrawDropoutMasks(Random draws, float[][] masks)
    {
        for (var d = 0; d < dropouts.Count; d++)
        {
            var keep = 1 - dropouts[d].Rate;
            var scale = (float)(1 / keep);
            var mask = masks[d];
            for (var k = 0; k < mask.Length; k++)
            {
                mask[k] = draws.NextDouble() < keep ? scale : 0f;
            }

            if (halves is null)
            {
                Set(dropouts[d].Mask, mask);
            }
        }
    }

    // One optimiser step of the single graph, with the thread count the chooser is trying.
    private void TrainStep(float[] x, float[] y)
    {
        GgmlApi.ggml_opt_alloc(opt, true);
        Set(trainInput, x);
        Set(GgmlApi.ggml_opt_labels(opt), y);
        SetStepSettings();
        var threads = threadChooser.Next();
        backend.SetThreads(threads);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        GgmlApi.ggml_opt_eval(opt, trainResult);
        threadChooser.Record(threads, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
        steps++;
        contextSteps++;
        UpdateRunningStatistics();
    }

    private (double Loss, double Accuracy) EpochLossAndAccuracy()
    {
        if (halves is not null)
        {
            return HalvesResult();
        }

        return (trainResult.Loss, trainResult.Accuracy);
    }

    // The weights (and AdamW's m and v, per weight tensor) as arrays for the steps of an epoch on halves.
    private sealed record ParallelState(float[][] Weights, float[][] M, float[][] V);

    private ParallelState LoadParallelState()
    {
        var parameters = tensors.SelectMany(t => t.Parameters).ToArray();
        return new(
            parameters.Select(p => Get(p.Tensor, p.Count)).ToArray(),
            moments.Select(m => Get(m.M, m.Count)).ToArray(),
            moments.Select(m => Get(m.V, m.Count)).ToArray());
    }

    private void StoreParallelState(ParallelState state)
    {
        var parameters = tensors.SelectMany(t => t.Parameters).ToArray();
        for (var k = 0; k < parameters.Length; k++)
        {
            Set(parameters[k].Tensor, state.Weights[k]);
        }

        for (var k = 0; k < moments.Count; k++)
        {
            Set(moments[k].M, state.M[k]);
            Set(moments[k].V, state.V[k]);
        }
    }

    // One step on two halves of the batch: each half's network gets the weights and its examples, computes its mean
    // loss's gradients single-threaded (both at once on two threads, or one after the other), and the batch's gradient
    // is their mean weighted by the halves' sizes, summed in a fixed order, so the thread count does not change it.
    // The optimiser step is ggml's (ggml_compute_forward_opt_step_adamw_f32 / _sgd_f32) on the arrays here.
    private void ParallelStep(ParallelState state, float[] x, float[] y, float[][] masks)
    {
        var (first, second) = (halves![0], halves[1]);
        var size = (int)Input.Size;
        var split = first.Options.BatchSize;
        Array.Copy(x, 0, first.halfInput, 0, (long)split * size);
        Array.Copy(x, (long)split * size, second.halfInput, 0, (long)second.Options.BatchSize * size);
        Array.Copy(y, 0, first.halfLabels, 0, (long)split * Classes);
        Array.Copy(y, (long)split * Classes, second.halfLabels, 0, (long)second.Options.BatchSize * Classes);
        for (var d = 0; d < masks.Length; d++)
        {
            var perExample = dropouts[d].Size;
            Array.Copy(masks[d], 0, first.halfMasks[d], 0, split * perExample);
            Array.Copy(masks[d], split * perExample, second.halfMasks[d], 0, second.Options.BatchSize * perExample);
        }

        // Each half copies the weights into its own tensors on its own thread (HalfStep).
        first.halfWeights = second.halfWeights = state.Weights;
        var threads = threadChooser.Next();
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        if (threads > 1)
        {
            halfThread!.RunAlongside(second.HalfStep, first.HalfStep);
        }
        else
        {
            first.HalfStep();
            second.HalfStep();
        }

        threadChooser.Record(threads, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);

        // Each half's gradient is of its mean loss scaled by 1/HalfPeriod: the batch's mean loss weighs them n_h/B.
        var batch = (float)Options.BatchSize;
        float a = first.Options.BatchSize * (float)HalfPeriod / batch, c = second.Options.BatchSize * (float)HalfPeriod / batch;
        var adamw = moments.Count > 0;
        float alpha = adamw ? settings.AdamwAlpha : settings.SgdAlpha;
        var keep = 1f - (alpha * (adamw ? settings.AdamwWd : settings.SgdWd));
        float beta1 = settings.AdamwBeta1, beta2 = settings.AdamwBeta2, eps = settings.AdamwEps;

        // ggml-opt's bias correction, in floats as it computes it, for this step of the whole run.
        var iteration = (float)(steps + 1);
        var beta1h = 1f / (1f - MathF.Pow(beta1, iteration));
        var beta2h = 1f / (1f - MathF.Pow(beta2, iteration));
        for (var k = 0; k < state.Weights.Length; k++)
        {
            var w = state.Weights[k];
            var g1 = first.halfGradients[k];
            var g2 = second.halfGradients[k];
            if (!adamw)
            {
                for (var i = 0; i < w.Length; i++)
                {
                    w[i] = (w[i] * keep) - (alpha * ((g1[i] * a) + (g2[i] * c)));
                }

                continue;
            }

            var m = state.M[k];
            var v = state.V[k];
            var tail = AdamWVectors(w, g1, g2, m, v, new(a, c, beta1, beta2, beta1h, beta2h, eps, alpha, keep));
            for (var i = tail; i < w.Length; i++)
            {
                var g = (g1[i] * a) + (g2[i] * c);
                m[i] = (m[i] * beta1) + (g * (1f - beta1));
                v[i] = (v[i] * beta2) + (g * g * (1f - beta2));
                var mh = m[i] * beta1h;
                var vh = MathF.Sqrt(v[i] * beta2h) + eps;
                w[i] = (w[i] * keep) - (alpha * mh / vh);
            }
        }
    }

    private readonly record struct AdamWStep(float A, float C, float Beta1, float Beta2, float Beta1h, float Beta2h, float Eps, float Alpha, float Keep);

    // The AdamW update of ParallelStep's scalar loop on whole vectors: the same operations on each lane in the same
    // order (no fused multiply-adds), so the weights are bitwise the scalar loop's; returns where the scalar tail starts.
    private static int AdamWVectors(float[] w, float[] g1, float[] g2, float[] m, float[] v, AdamWStep p)
    {
        var width = System.Numerics.Vector<float>.Count;
        if (!System.Numerics.Vector.IsHardwareAccelerated || w.Length < width)
        {
            return 0;
        }

        System.Numerics.Vector<float> a = new(p.A), c = new(p.C), beta1 = new(p.Beta1), beta2 = new(p.Beta2);
        System.Numerics.Vector<float> rest1 = new(1f - p.Beta1), rest2 = new(1f - p.Beta2), beta1h = new(p.Beta1h), beta2h = new(p.Beta2h);
        System.Numerics.Vector<float> eps = new(p.Eps), alpha = new(p.Alpha), keep = new(p.Keep);
        var i = 0;
        for (; i <= w.Length - width; i += width)
        {
            var g = (new System.Numerics.Vector<float>(g1, i) * a) + (new System.Numerics.Vector<float>(g2, i) * c);
            var mi = (new System.Numerics.Vector<float>(m, i) * beta1) + (g * rest1);
            var vi = (new System.Numerics.Vector<float>(v, i) * beta2) + (g * g * rest2);
            mi.CopyTo(m, i);
            vi.CopyTo(v, i);
            var mh = mi * beta1h;
            var vh = System.Numerics.Vector.SquareRoot(vi * beta2h) + eps;
            ((new System.Numerics.Vector<float>(w, i) * keep) - (alpha * mh / vh)).CopyTo(w, i);
        }

        return i;
    }

    // A half's network: forward and backward on its examples, the gradients left in halfGradients.
    private void HalfStep()
    {
        for (var k = 0; k < parameterTensors.Length; k++)
        {
            Set(parameterTensors[k], halfWeights[k]);
        }

        for (var d = 0; d < dropouts.Count; d++)
        {
            Set(dropouts[d].Mask, halfMasks[d]);
        }

        GgmlApi.ggml_opt_reset(opt, false);
        GgmlApi.ggml_opt_alloc(opt, true);
        Set(trainInput, halfInput);

        Set(GgmlApi.ggml_opt_labels(opt), halfLabels);
        GgmlApi.ggml_opt_eval(opt, trainResult);
        for (var k = 0; k < gradientTensors.Length; k++)
        {
            GgmlTensorData.Get<float>(gradientTensors[k], halfGradients[k]);
        }
    }

    // The epoch's mean loss and accuracy over both halves (each half's mean loss per batch weighed by its size).
    private (double Loss, double Accuracy) HalvesResult()
    {
        double loss = 0, accuracy = 0;
        foreach (var h in halves!)
        {
            loss += h.trainResult.Loss * h.Options.BatchSize / Options.BatchSize;
            accuracy += h.trainResult.Accuracy * h.Options.BatchSize / Options.BatchSize;
        }

        return (loss, accuracy);
    }

    private float[] LogitsHere(float[] images, IReadOnlyList<int> rows, CancellationToken cancellationToken, ITrainingGate? gate)
    {
        var batch = Options.BatchSize;
        var size = (int)Input.Size;
        var x = new float[batch * size];
        var scores = new float[batch * Classes];
        var result = new float[rows.Count * Classes];
        backend.SetThreads(threadChooser.Chosen);
        foreach (var norm in tensors.Select(t => t.Norm).OfType<BatchNormState>())
        {
            Set(norm.RunningMean, norm.Mean);
            Set(norm.RunningInverseStd, norm.Variance.Select(v => 1f / MathF.Sqrt(v + NormEpsilon)).ToArray());
        }

        for (var start = 0; start < rows.Count; start += batch)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var batchStarted = System.Diagnostics.Stopwatch.GetTimestamp();
            var count = Math.Min(batch, rows.Count - start);
            Array.Clear(x);
            for (var j = 0; j < count; j++)
            {
                Array.Copy(images, (long)rows[start + j] * size, x, (long)j * size, size);
            }

            Set(inferInput, x);
            var status = GgmlApi.ggml_backend_sched_graph_compute(inferSched, inferGraph);
            if (status != 0)
            {
                throw new GgmlException($"ggml's forward pass failed (status {status})");
            }

            GgmlTensorData.Get<float>(inferOutput, scores);

            Array.Copy(scores, 0, result, (long)start * Classes, (long)count * Classes);
            gate?.AfterBatch(System.Diagnostics.Stopwatch.GetElapsedTime(batchStarted), cancellationToken);
        }

        return result;
    }

    /// <summary>The trained values of every layer with weights: layer index → named arrays (see <see cref="GgmlWeights"/>).</summary>
    public GgmlWeights Weights()
    {
        var result = new Dictionary<int, IReadOnlyList<float[]>>();
        for (var i = 0; i < tensors.Count; i++)
        {
            if (tensors[i].Parameters.Count > 0)
            {
                var values = tensors[i].Parameters.Select(p => Get(p.Tensor, p.Count));
                result[i] = (tensors[i].Norm is { } norm ? values.Append((float[])norm.Mean.Clone()).Append((float[])norm.Variance.Clone()) : values).ToArray();
            }
        }

        return new GgmlWeights(result);
    }

    /// <summary>Puts back values taken by <see cref="Weights"/> (the best epoch's, for early stopping, or a checkpoint's).</summary>
    public void Restore(GgmlWeights weights)
    {
        foreach (var (layer, values) in weights.Layers)
        {
            var parameters = tensors[layer].Parameters;
            var norm = tensors[layer].Norm;
            var expected = parameters.Count + (norm is null ? 0 : 2);
            if (expected != values.Count)
            {
                throw new ArgumentException($"layer {layer} has {expected} weight tensors, not {values.Count}", nameof(weights));
            }

            if (norm is not null)
            {
                if (values[^2].Length != norm.Mean.Length || values[^1].Length != norm.Variance.Length)
                {
                    throw new ArgumentException($"layer {layer}'s running statistics have {norm.Mean.Length} values, not {values[^2].Length}", nameof(weights));
                }

                values[^2].CopyTo(norm.Mean, 0);
                values[^1].CopyTo(norm.Variance, 0);
            }

            for (var k = 0; k < parameters.Count; k++)
            {
                if (values[k].Length != parameters[k].Count)
                {
                    throw new ArgumentException($"layer {layer} tensor {k} has {parameters[k].Count} values, not {values[k].Length}", nameof(weights));
                }

                Set(parameters[k].Tensor, values[k]);
            }
        }
    }

    /// <summary>
    /// The optimiser's state after the epochs trained so far: the epoch and step counts and, for AdamW, the first and
    /// second moments of every weight tensor (in <see cref="Weights"/>' order, m then v); SGD keeps none.
    /// </summary>
    public GgmlOptimizerState OptimizerState() =>
        new(epoch, steps, moments.SelectMany(m => new[] { Get(m.M, m.Count), Get(m.V, m.Count) }).ToArray());

    /// <summary>
    /// Puts back a state taken by <see cref="OptimizerState"/> (with the weights, by <see cref="Restore"/>), so training
    /// goes on as the run it came from would have: same moments, same bias correction, same epoch numbering.
    /// </summary>
    public void RestoreOptimizer(GgmlOptimizerState state)
    {
        if (state.Moments.Count != 2 * moments.Count)
        {
            throw new ArgumentException($"the optimiser keeps {2 * moments.Count} moment tensors, not {state.Moments.Count}", nameof(state));
        }

        for (var k = 0; k < moments.Count; k++)
        {
            if (state.Moments[2 * k].Length != moments[k].Count || state.Moments[(2 * k) + 1].Length != moments[k].Count)
            {
                throw new ArgumentException($"moment tensor {k} has {moments[k].Count} values, not {state.Moments[2 * k].Length}", nameof(state));
            }

            Set(moments[k].M, state.Moments[2 * k]);
            Set(moments[k].V, state.Moments[(2 * k) + 1]);
        }

        epoch = state.Epochs;
        steps = state.Steps;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        // Users before what they use: the optimiser reads the compute context; both read the static buffer.
        niceThread?.Dispose();
        halfThread?.Dispose();
        if (halves is not null)
        {
            foreach (var h in halves)
            {
                h?.Dispose();
            }
        }

        trainResult?.Dispose();
        opt?.Dispose();
        inferSched?.Dispose();
        backend?.Dispose();
        trainContext?.Dispose();
        inferContext?.Dispose();
        statisticsBuffer?.Dispose();
        statisticsContext?.Dispose();
        staticBuffer?.Dispose();
        staticContext?.Dispose();
    }

    private static SafeGgmlContextHandle Context(long bytes) =>
        SafeGgmlContextHandle.Wrap(GgmlApi.ggml_init(new GgmlInitParams { MemSize = (nuint)bytes, MemBuffer = IntPtr.Zero, NoAlloc = 1 }), "ggml_init");

    private static void Set(IntPtr tensor, float[] values) => GgmlTensorData.Set<float>(tensor, values);

    private static float[] Get(IntPtr tensor, long count)
    {
        var values = new float[count];
        GgmlTensorData.Get<float>(tensor, values);
        return values;
    }

    // ggml computed the same shape the checks did, or building went wrong: compare before anything runs.
    private static void CheckShape(IntPtr tensor, params long[] expected)
    {
        var actual = GgmlTensorData.Shape(tensor);

        var want = expected.Concat(Enumerable.Repeat(1L, 4 - expected.Length)).ToArray();
        if (!actual.SequenceEqual(want))
        {
            throw new GgmlException($"ggml built a tensor of shape [{string.Join(", ", actual)}] where [{string.Join(", ", want)}] was expected");
        }
    }

    private LayerTensors CreateParameters(int index, NetworkShape before)
    {
        var layer = Layers[index];
        var parameters = new List<(IntPtr Tensor, long Count)>();
        IntPtr Parameter(string name, params long[] ne)
        {
            var tensor = ne.Length switch
            {
                1 => GgmlApi.ggml_new_tensor_1d(staticContext, GgmlType.F32, ne[0]),
                2 => GgmlApi.ggml_new_tensor_2d(staticContext, GgmlType.F32, ne[0], ne[1]),
                _ => GgmlApi.ggml_new_tensor_4d(staticContext, GgmlType.F32, ne[0], ne[1], ne[2], ne[3]),
            };
            GgmlApi.ggml_set_name(tensor, $"l{index}.{name}");
            GgmlApi.ggml_set_param(tensor);
            parameterNames.Add($"l{index}.{name}");
            parameters.Add((tensor, ne.Aggregate(1L, (a, b) => a * b)));
            return tensor;
        }

        switch (layer.Type)
        {
            case "dense":
                Parameter("weight", before.Size, layer.Units!.Value);
                Parameter("bias", layer.Units!.Value);
                break;
            case "conv2d":
                {
                    Parameter("weight", layer.Kernel!.Value, layer.Kernel!.Value, before.Dims[0], layer.Filters!.Value);
                    Parameter("bias", 1, 1, layer.Filters!.Value, 1);

                    // Only a convolution whose input has a gradient (some layer below it has weights) has an
                    // im2col_back to avoid; the first one keeps im2col.
                    var inputHasGradient = tensors.Any(t => t.Parameters.Count > 0);
                    if (inputHasGradient)
                    {
                        return new LayerTensors(parameters, IntPtr.Zero, Gather: Options.GatherColumns ? ColumnGather.Create(staticContext, index, layer, before, Shapes[index],
                            Options.BatchSize, Options.PadGatheredContraction ? TiledContraction : 1, QuadrantPool(index)) : null);
                    }

                    // Its kernel enlarged by a row and a column of zeros when that makes the contraction a multiple of 16 (see Conv2d).
                    int k = layer.Kernel!.Value, channels = before.Dims[0];
                    if (!Options.PadContraction || (long)channels * k * k % PaddedContraction == 0 || (long)channels * (k + 1) * (k + 1) % PaddedContraction != 0)
                    {
                        return new LayerTensors(parameters, IntPtr.Zero);
                    }

                    var zeros = GgmlApi.ggml_new_tensor_4d(staticContext, GgmlType.F32, k + 1, k + 1, channels, layer.Filters!.Value);
                    GgmlApi.ggml_set_name(zeros, $"l{index}.kernel_zeros");
                    return new LayerTensors(parameters, IntPtr.Zero, KernelZeros: zeros);
                }

            case "layer_norm":
                Parameter("scale", before.Size);
                Parameter("shift", before.Size);
                break;
            case "batch_norm":
                {
                    // One scale and shift per channel, shaped to broadcast over [W, H, C, N] (or [F, N] once flat).
                    var channels = before.Dims[0];
                    long[] shape = before.Flat ? [channels] : [1, 1, channels, 1];
                    Parameter("scale", shape);
                    Parameter("shift", shape);
                    IntPtr Statistic(string name)
                    {
                        var tensor = before.Flat
                            ? GgmlApi.ggml_new_tensor_1d(staticContext, GgmlType.F32, channels)
                            : GgmlApi.ggml_new_tensor_4d(staticContext, GgmlType.F32, 1, 1, channels, 1);
                        GgmlApi.ggml_set_name(tensor, $"l{index}.{name}");
                        return tensor;
                    }

                    var perChannel = before.Flat ? Options.BatchSize : (long)before.Dims[1] * before.Dims[2] * Options.BatchSize;
                    return new LayerTensors(parameters, IntPtr.Zero, new BatchNormState(channels, perChannel, Statistic("running_mean"), Statistic("running_inv_std")));
                }

            case "dropout":
                var mask = before.Flat
                    ? GgmlApi.ggml_new_tensor_2d(staticContext, GgmlType.F32, before.Size, Options.BatchSize)
                    : GgmlApi.ggml_new_tensor_4d(staticContext, GgmlType.F32, before.Dims[2], before.Dims[1], before.Dims[0], Options.BatchSize);
                GgmlApi.ggml_set_name(mask, $"l{index}.mask");
                dropouts.Add((mask, before.Size, layer.Rate!.Value));
                return new LayerTensors(parameters, mask);
        }

        return new LayerTensors(parameters, IntPtr.Zero);
    }

    // ggml-opt names each parameter's update "adamw step for <parameter>" in the compute context it was given (ours)
    // and keeps the moments it allocated for it as that step's third and fourth sources; ggml-opt has no accessor.
    private void FindMoments()
    {
        foreach (var ((_, count), name) in tensors.SelectMany(t => t.Parameters).Zip(parameterNames))
        {
            var step = GgmlApi.ggml_get_tensor(trainContext, $"adamw step for {name}");
            if (step == IntPtr.Zero)
            {
                throw new GgmlException($"ggml-opt built no AdamW step for '{name}'");
            }

            var (m, v) = (GgmlTensorData.Source(step, 2), GgmlTensorData.Source(step, 3));
            if (m == IntPtr.Zero || v == IntPtr.Zero || Elements(m) != count || Elements(v) != count)
            {
                throw new GgmlException($"the AdamW step for '{name}' does not have the moments it should");
            }

            moments.Add((m, v, count));
        }
    }

    private static long Elements(IntPtr tensor) => GgmlTensorData.Elements(tensor);

    // AdamW divides the moments by 1 - β^k with ggml's own step count k; a resumed run is at step t > k. Scaling the
    // learning rate by (1 - β1^k)/(1 - β1^t) · √((1 - β2^t)/(1 - β2^k)) gives the update of step t (up to ε), and
    // dividing the weight decay by the same keeps the decay of step t (ggml applies 1 - α·wd).
    private void SetStepSettings()
    {
        if (moments.Count == 0 || steps == contextSteps)
        {
            return;
        }

        // ggml's step is w*(1 - alpha*wd) - alpha*beta1h(k)*m / (sqrt(v*beta2h(k)) + eps) with its own count k; with
        // r = sqrt(beta2h(k)/beta2h(t)) the denominator is r*(sqrt(v*beta2h(t)) + eps/r), so eps scales by r as well,
        // or weights whose second moment is tiny move differently from the uninterrupted run.
        double k = contextSteps + 1, t = steps + 1, beta1 = settings.AdamwBeta1, beta2 = settings.AdamwBeta2;
        var r = Math.Sqrt((1 - Math.Pow(beta2, t)) / (1 - Math.Pow(beta2, k)));
        var scale = (1 - Math.Pow(beta1, k)) / (1 - Math.Pow(beta1, t)) * r;
        var corrected = settings;
        corrected.AdamwAlpha = (float)(settings.AdamwAlpha * scale);
        corrected.AdamwWd = (float)(settings.AdamwWd / scale);
        corrected.AdamwEps = (float)(settings.AdamwEps * r);
        opt.Settings = corrected;
    }

    // Moves each batch-norm layer's running mean and (unbiased) variance towards the batch's, as PyTorch does.
    private void UpdateRunningStatistics()
    {
        foreach (var norm in tensors.Select(t => t.Norm).OfType<BatchNormState>())
        {
            var mean = Get(norm.BatchMean, norm.Mean.Length);
            var variance = Get(norm.BatchVariance, norm.Variance.Length);
            var unbiased = norm.PerChannel > 1 ? norm.PerChannel / (float)(norm.PerChannel - 1) : 1f;
            for (var c = 0; c < mean.Length; c++)
            {
                norm.Mean[c] += BatchNormMomentum * (mean[c] - norm.Mean[c]);
                norm.Variance[c] += BatchNormMomentum * ((variance[c] * unbiased) - norm.Variance[c]);
            }
        }
    }

    // He-uniform weights (fan-in scaled, suited to ReLU), zero biases, unit layer-norm scales, all from the seed.
    private void InitializeWeights()
    {
        for (var i = 0; i < Layers.Count; i++)
        {
            var parameters = tensors[i].Parameters;
            switch (Layers[i].Type)
            {
                case "dense" or "conv2d":
                    {
                        var fanIn = parameters[0].Count / (Layers[i].Type == "dense" ? Layers[i].Units!.Value : Layers[i].Filters!.Value);
                        var bound = Math.Sqrt(6.0 / fanIn);
                        var weight = new float[parameters[0].Count];
                        for (var k = 0; k < weight.Length; k++)
                        {
                            weight[k] = (float)(((random.NextDouble() * 2) - 1) * bound);
                        }

                        Set(parameters[0].Tensor, weight);
                        Set(parameters[1].Tensor, new float[parameters[1].Count]);
                        break;
                    }

                case "layer_norm" or "batch_norm":
                    {
                        var scale = new float[parameters[0].Count];
                        Array.Fill(scale, 1f);
                        Set(parameters[0].Tensor, scale);
                        Set(parameters[1].Tensor, new float[parameters[1].Count]);
                        break;
                    }
            }
        }

        foreach (var dropout in dropouts)
        {
            Set(dropout.Mask, ones[..(int)(dropout.Size * Options.BatchSize)]);
        }
    }

    // A contraction that is a multiple of this takes ggml's tiled GEMM with AVX2 (8) and AVX-512 (16).
    private const long PaddedContraction = 16;

    // The multiple ggml's tiled GEMM (llamafile's tinyBLAS) needs of an F32 contraction on this CPU: ggml loads its
    // best CPU variant, which is an AVX-512 one (16 floats a vector) where the CPU has AVX-512, else AVX2's 8.
    private static int TiledContraction => System.Runtime.Intrinsics.X86.Avx512F.IsSupported ? 16 : 8;

    private IntPtr Forward(SafeGgmlContextHandle ctx, IntPtr x, bool training)
    {
        var batch = Options.BatchSize;
        IntPtr Sigmoid(IntPtr v) => GgmlApi.ggml_exp(ctx, GgmlApi.ggml_neg(ctx, GgmlApi.ggml_softplus(ctx, GgmlApi.ggml_neg(ctx, v))));
        for (var i = 0; i < Layers.Count; i++)
        {
            var layer = Layers[i];
            var before = i == 0 ? Input : Shapes[i - 1];
            var parameters = tensors[i].Parameters;
            switch (layer.Type)
            {
                case "dense":
                    x = GgmlApi.ggml_add(ctx, GgmlApi.ggml_mul_mat(ctx, parameters[0].Tensor, x), parameters[1].Tensor);
                    break;
                case "conv2d":
                    {
                        var s = layer.Stride!.Value;
                        var p = layer.Padding!.Value;
                        x = tensors[i].Gather is { } gather
                            ? GatheredConv2d(ctx, parameters[0].Tensor, x, gather, before, Shapes[i])
                            : quadrantConvs.Contains(i)
                                ? QuadrantConv2d(ctx, parameters[0].Tensor, x, layer, before, Shapes[i])
                                : Conv2d(ctx, parameters[0].Tensor, x, s, p, layer.Filters!.Value, Shapes[i], tensors[i].KernelZeros);
                        if (!biasAfterPool.Values.Any(f => f.Conv == i))
                        {
                            x = GgmlApi.ggml_add(ctx, x, parameters[1].Tensor);
                        }

                        break;
                    }

                case "max_pool" or "avg_pool":
                    {
                        var k = layer.Kernel!.Value;
                        var s = layer.Stride!.Value;
                        var pooled = biasAfterPool.TryGetValue(i, out var folded) && quadrantConvs.Contains(folded.Conv);
                        x = pooled ? x : GgmlApi.ggml_pool_2d(ctx, x, layer.Type == "max_pool" ? GgmlPool.Max : GgmlPool.Average, k, k, s, s, 0, 0);
                        if (biasAfterPool.ContainsKey(i))
                        {
                            x = GgmlApi.ggml_add(ctx, x, tensors[folded.Conv].Parameters[1].Tensor);
                            x = folded.Relu ? GgmlApi.ggml_relu(ctx, x) : x;
                        }

                        break;
                    }

                case "flatten":
                    x = GgmlApi.ggml_reshape_2d(ctx, GgmlApi.ggml_cont(ctx, x), before.Size, batch);
                    break;
                case "dropout":
                    if (training)
                    {
                        x = GgmlApi.ggml_mul(ctx, x, tensors[i].Mask);
                    }

                    break;
                case "layer_norm":
                    {
                        // ggml's own norm has no backward pass: centre, then RMS-normalise (which has one). The mean is
                        // sum_rows scaled, as ggml_mean's backward pass only accumulates into scalars.
                        var flat = before.Flat ? x : GgmlApi.ggml_reshape_2d(ctx, GgmlApi.ggml_cont(ctx, x), before.Size, batch);
                        var mean = GgmlApi.ggml_scale(ctx, GgmlApi.ggml_sum_rows(ctx, flat), 1f / before.Size);
                        var centred = GgmlApi.ggml_sub(ctx, flat, GgmlApi.ggml_repeat(ctx, mean, flat));
                        var normed = GgmlApi.ggml_add(ctx, GgmlApi.ggml_mul(ctx, GgmlApi.ggml_rms_norm(ctx, centred, NormEpsilon), parameters[0].Tensor), parameters[1].Tensor);
                        x = before.Flat ? normed : GgmlApi.ggml_reshape_4d(ctx, normed, before.Dims[2], before.Dims[1], before.Dims[0], batch);
                        break;
                    }

                case "batch_norm":
                    x = BatchNorm(ctx, x, before, tensors[i], training);
                    break;
                case "relu":
                    x = biasAfterPool.Values.Any(f => f.Relu && f.Conv == i - 1) ? x : GgmlApi.ggml_relu(ctx, x);
                    break;
                case "sigmoid":
                    // ggml's sigmoid and tanh have no backward pass; these forms use operations that do.
                    x = Sigmoid(x);
                    break;
                case "tanh":
                    x = GgmlApi.ggml_scale_bias(ctx, Sigmoid(GgmlApi.ggml_scale(ctx, x, 2f)), 2f, -1f);
                    break;
                case "gelu":
                    {
                        var cube = GgmlApi.ggml_mul(ctx, GgmlApi.ggml_mul(ctx, x, x), x);
                        var inner = GgmlApi.ggml_add(ctx, x, GgmlApi.ggml_scale(ctx, cube, GeluCubic));
                        x = GgmlApi.ggml_mul(ctx, x, Sigmoid(GgmlApi.ggml_scale(ctx, inner, GeluScale)));
                        break;
                    }

                case "softmax":
                    // The graph ends at the scores: ggml-opt's cross-entropy loss applies the softmax itself.
                    break;
            }

            if (x == IntPtr.Zero)
            {
                throw new GgmlException($"ggml could not build layer {i} ({layer.Type})");
            }

            // A convolution whose max-pool its quadrants computed is already pooled until the pool layer.
            if (biasAfterPool.Any(f => quadrantConvs.Contains(f.Value.Conv) && f.Value.Conv <= i && i < f.Key))
            {
                continue;
            }

            var shape = Shapes[i];
            if (shape.Flat)
            {
                CheckShape(x, shape.Dims[0], batch);
            }
            else
            {
                CheckShape(x, shape.Dims[2], shape.Dims[1], shape.Dims[0], batch);
            }
        }

        return x;
    }

    // A convolution's bias (and a ReLU after it) commutes with the max-pool that follows: max(a + b) = max(a) + b per
    // channel, exactly in floats too (rounding is monotone), and a ReLU is monotone. Added after the pool, the bias, the
    // ReLU and their gradients cover a quarter of the values (for a 2×2 pool). Pool layer index → (conv index, ReLU?).
    private static Dictionary<int, (int Conv, bool Relu)> BiasAfterPool(IReadOnlyList<NetworkLayer> layers)
    {
        var folds = new Dictionary<int, (int, bool)>();
        for (var i = 0; i < layers.Count; i++)
        {
            if (layers[i].Type != "conv2d")
            {
                continue;
            }

            var relu = i + 1 < layers.Count && layers[i + 1].Type == "relu";
            var pool = i + (relu ? 2 : 1);
            if (pool < layers.Count && layers[pool].Type == "max_pool")
            {
                folds[pool] = (i, relu);
            }
        }

        return folds;
    }

    // ggml_conv_2d unrolls the input to F16, which loses the precision the ONNX export must match: the same
    // im2col + matrix product in F32. [W, H, C, N] → columns [C·k·k, OW, OH, N] → [OW·OH·N, filters] → [OW, OH, filters, N].
    //
    // With kernelZeros (a first convolution, whose input has no gradient, e.g. 3x3 on one channel) the kernel is
    // enlarged to (k+1)x(k+1) with a leading row and column of zeros and the padding grows by one, so the contraction
    // (9 → 16) is a multiple of 16: a product whose contraction is not a multiple of 8 (16 with AVX-512) falls back from
    // ggml's tiled GEMM (llamafile's sgemm) to one ggml_vec_dot_f32 of 9 per output, the largest cost of the forward
    // pass. The zeros add nothing: output (y, x) is the same sum; the enlarged kernel's last output row and column (when
    // the grown padding makes one more) are dropped by a view. The kernel is copied into the zeros by ggml_acc, whose
    // backward pass hands the kernel its slice of the enlarged kernel's gradient. (Padding the columns with ggml_pad
    // instead costs more than it saves: its CPU kernel goes element by element.)
    private IntPtr Conv2d(SafeGgmlContextHandle ctx, IntPtr kernel, IntPtr x, int stride, int padding, int filters, NetworkShape output, IntPtr kernelZeros = 0)
    {
        var batch = Options.BatchSize;
        long outWidth = output.Dims[2], outHeight = output.Dims[1];
        if (kernelZeros != IntPtr.Zero)
        {
            kernel = GgmlApi.ggml_acc(ctx, kernelZeros, kernel, GgmlTensorData.Stride(kernelZeros, 1), GgmlTensorData.Stride(kernelZeros, 2),
                GgmlTensorData.Stride(kernelZeros, 3), GgmlTensorData.Stride(kernelZeros, 1) + GgmlTensorData.Stride(kernelZeros, 0));
            padding++;
        }

        // im2col reads only the kernel's shape (its backward pass ignores it): the static zeros when enlarged.
        var columns = GgmlApi.ggml_im2col(ctx, kernelZeros != IntPtr.Zero ? kernelZeros : kernel, x, stride, stride, padding, padding, 1, 1, true, GgmlType.F32);
        long rows = GgmlTensorData.Size(columns, 0), width = GgmlTensorData.Size(columns, 1), height = GgmlTensorData.Size(columns, 2);
        var flatKernel = GgmlApi.ggml_reshape_2d(ctx, kernel, rows, filters);
        var product = GgmlApi.ggml_mul_mat(ctx, GgmlApi.ggml_reshape_2d(ctx, columns, rows, width * height * batch), flatKernel);
        var shaped = GgmlApi.ggml_reshape_4d(ctx, product, width, height, batch, filters);
        if (width != outWidth || height != outHeight)
        {
            shaped = GgmlApi.ggml_view_4d(ctx, shaped, outWidth, outHeight, batch, filters, GgmlTensorData.Stride(shaped, 1), GgmlTensorData.Stride(shaped, 2),
                GgmlTensorData.Stride(shaped, 3), 0);
        }

        return GgmlApi.ggml_cont(ctx, GgmlApi.ggml_permute(ctx, shaped, 0, 1, 3, 2));
    }

    // The same convolution with columns gathered by ggml_get_rows, whose backward pass is a scatter-add of rows
    // (get_rows_back) instead of im2col_back's per-element integer divisions, the largest cost of the default CNN's
    // step. The input is copied channel-last ([C, W, H, N], one row of C values per pixel) with a zero row after the
    // last pixel for the padding; a column is then the rows of its k·k pixels, ordered (c, kx, ky) from fastest, and the
    // kernel is permuted to the same order. The reshapes of x and of the kernel before the permutes are there for the
    // backward pass: a permute's gradient is a permuted view, and a reshape's backward makes it contiguous again
    // before it reaches the layer below or the optimiser.
    private IntPtr GatheredConv2d(SafeGgmlContextHandle ctx, IntPtr kernel, IntPtr x, ColumnGather gather, NetworkShape input, NetworkShape output)
    {
        var batch = Options.BatchSize;
        long channels = input.Dims[0], height = input.Dims[1], width = input.Dims[2];
        var filters = output.Dims[0];
        var k = (long)gather.Kernel;
        var pixels = width * height * batch;
        var channelLast = GgmlApi.ggml_cont(ctx, GgmlApi.ggml_permute(ctx, GgmlApi.ggml_reshape_4d(ctx, x, width, height, channels, batch), 1, 2, 0, 3));
        var padded = GgmlApi.ggml_acc(ctx, gather.Zeros, GgmlApi.ggml_reshape_2d(ctx, channelLast, channels * pixels, 1), GgmlTensorData.Stride(gather.Zeros, 1),
            GgmlTensorData.Stride(gather.Zeros, 2), GgmlTensorData.Stride(gather.Zeros, 3), 0);
        var columns = GgmlApi.ggml_get_rows(ctx, GgmlApi.ggml_reshape_2d(ctx, padded, channels, pixels + 1), gather.Rows);
        var positions = (long)output.Dims[2] * output.Dims[1] * batch;
        var flatKernel = GgmlApi.ggml_reshape_2d(ctx, GgmlApi.ggml_cont(ctx, GgmlApi.ggml_permute(ctx, GgmlApi.ggml_reshape_4d(ctx, kernel, k, k, channels, filters), 1, 2, 0, 3)),
            channels * k * k, filters);
        var contraction = channels * gather.RowsPerPosition;
        if (gather.KernelZeros != IntPtr.Zero)
        {
            // The columns end in zero rows (the padding pixel) up to the tiled GEMM's multiple: the kernel is copied into
            // as many zeros per filter, and ggml_acc's backward pass hands the kernel its slice of the gradient.
            flatKernel = GgmlApi.ggml_acc(ctx, gather.KernelZeros, flatKernel, GgmlTensorData.Stride(gather.KernelZeros, 1), GgmlTensorData.Stride(gather.KernelZeros, 2),
                GgmlTensorData.Stride(gather.KernelZeros, 3), 0);
        }

        if (gather.Quadrants)
        {
            // The index lists the four quadrants' positions one after the other: a product per quadrant, each its own
            // get_rows (one gather viewed in four would hand its gradient back through four full-size copies).
            var quarter = positions / 4;
            var perQuadrant = quarter * gather.RowsPerPosition;
            var padding = GgmlApi.ggml_reshape_2d(ctx, padded, channels, pixels + 1);
            var products = new IntPtr[4];
            for (var q = 0; q < 4; q++)
            {
                var rows = GgmlApi.ggml_view_1d(ctx, gather.Rows, perQuadrant, (nuint)(q * perQuadrant * sizeof(int)));
                var quadrant = GgmlApi.ggml_get_rows(ctx, padding, rows);
                products[q] = GgmlApi.ggml_mul_mat(ctx, GgmlApi.ggml_reshape_2d(ctx, quadrant, contraction, quarter), flatKernel);
            }

            return PoolQuadrants(ctx, products, output, filters);
        }

        var product = GgmlApi.ggml_mul_mat(ctx, GgmlApi.ggml_reshape_2d(ctx, columns, contraction, positions), flatKernel);
        var shaped = GgmlApi.ggml_reshape_4d(ctx, product, output.Dims[2], output.Dims[1], batch, filters);
        return GgmlApi.ggml_cont(ctx, GgmlApi.ggml_permute(ctx, shaped, 0, 1, 3, 2));
    }

    // A first "same" convolution (stride 1, odd k, padding (k-1)/2 >= 1, its input without gradient) whose 2x2 max-pool
    // is computed from its quadrants: the outputs at (2·px + dx, 2·py + dy) are a stride-2 convolution, im2col'd with
    // padding p where d = 0 and p - 1 where d = 1 over the input grown by a zero column (row) at the end, so the
    // quadrant's last output reaches the same zeros the convolution's padding gives.
    private IntPtr QuadrantConv2d(SafeGgmlContextHandle ctx, IntPtr kernel, IntPtr x, NetworkLayer layer, NetworkShape input, NetworkShape output)
    {
        var batch = Options.BatchSize;
        int k = layer.Kernel!.Value, p = layer.Padding!.Value, filters = output.Dims[0];
        var contraction = (long)input.Dims[0] * k * k;
        var quarter = (long)output.Dims[1] * output.Dims[2] * batch / 4;
        var flatKernel = GgmlApi.ggml_reshape_2d(ctx, kernel, contraction, filters);
        var products = new IntPtr[4];
        for (var q = 0; q < 4; q++)
        {
            int dx = q % 2, dy = q / 2;
            var grown = dx == 0 && dy == 0 ? x : GgmlApi.ggml_pad(ctx, x, dx, dy, 0, 0);
            var columns = GgmlApi.ggml_im2col(ctx, kernel, grown, 2, 2, p - dx, p - dy, 1, 1, true, GgmlType.F32);
            products[q] = GgmlApi.ggml_mul_mat(ctx, GgmlApi.ggml_reshape_2d(ctx, columns, contraction, quarter), flatKernel);
        }

        return PoolQuadrants(ctx, products, output, filters);
    }

    // The 2x2 max-pool of four quadrant products ([PW·PH·N, F] each, quadrant q = 2·dy + dx) as [PW, PH, F, N]:
    // max(a, b) = a + relu(b - a), whose gradient goes to a on equal values (relu's step is 0 at 0), so the first of
    // equal values in the window's order takes it, as in pool_2d_back.
    private IntPtr PoolQuadrants(SafeGgmlContextHandle ctx, IntPtr[] products, NetworkShape output, int filters)
    {
        IntPtr Max(IntPtr a, IntPtr b) => GgmlApi.ggml_add(ctx, a, GgmlApi.ggml_relu(ctx, GgmlApi.ggml_sub(ctx, b, a)));
        var pooled = Max(Max(products[0], products[1]), Max(products[2], products[3]));
        var shaped = GgmlApi.ggml_reshape_4d(ctx, pooled, output.Dims[2] / 2, output.Dims[1] / 2, Options.BatchSize, filters);
        return GgmlApi.ggml_cont(ctx, GgmlApi.ggml_permute(ctx, shaped, 0, 1, 3, 2));
    }

    // Whether convolution i may compute its max-pool from quadrants on im2col (see QuadrantConv2d).
    private bool SameFirstConvolution(int i)
    {
        var layer = Layers[i];
        int k = layer.Kernel!.Value, p = layer.Padding!.Value;
        return layer.Stride == 1 && k % 2 == 1 && p == (k - 1) / 2 && p >= 1 && tensors[i].KernelZeros == IntPtr.Zero
            && !tensors.Take(i).Any(t => t.Parameters.Count > 0);
    }

    private bool QuadrantPool(int conv) => quadrantConvs.Contains(conv);

    // Training: normalise by the batch's own per-channel mean and variance (read back after each step to update the
    // running statistics); inference: by the running statistics, as ONNX's BatchNormalization does. The activations
    // are viewed as [S, C, N] (S = W·H, or 1 once flat) and never permuted: a permuted input would hand the layers
    // below it a non-contiguous gradient, which ggml's backward pass refuses. Only the small [C, N] sums are transposed.
    private IntPtr BatchNorm(SafeGgmlContextHandle ctx, IntPtr x, NetworkShape before, LayerTensors layer, bool training)
    {
        var norm = layer.Norm!;
        var batch = Options.BatchSize;
        long channels = before.Dims[0];
        var spatial = before.Flat ? 1L : (long)before.Dims[1] * before.Dims[2];
        var viewed = GgmlApi.ggml_reshape_4d(ctx, x, spatial, channels, batch, 1);
        IntPtr Broadcast(IntPtr perChannel) => GgmlApi.ggml_repeat(ctx, GgmlApi.ggml_reshape_4d(ctx, perChannel, 1, channels, 1, 1), viewed);
        IntPtr normed;
        if (training)
        {
            IntPtr ChannelMean(IntPtr t)
            {
                var sums = GgmlApi.ggml_reshape_2d(ctx, GgmlApi.ggml_sum_rows(ctx, t), channels, batch);
                return GgmlApi.ggml_scale(statisticsContext, GgmlApi.ggml_sum_rows(ctx, GgmlApi.ggml_cont(ctx, GgmlApi.ggml_transpose(ctx, sums))), 1f / norm.PerChannel);
            }

            var mean = ChannelMean(viewed);
            var centred = GgmlApi.ggml_sub(ctx, viewed, Broadcast(mean));
            var variance = ChannelMean(GgmlApi.ggml_sqr(ctx, centred));
            var deviation = GgmlApi.ggml_sqrt(ctx, GgmlApi.ggml_scale_bias(ctx, variance, 1f, NormEpsilon));
            normed = GgmlApi.ggml_div(ctx, centred, Broadcast(deviation));
            GgmlApi.ggml_set_output(mean);
            GgmlApi.ggml_set_output(variance);
            norm.BatchMean = mean;
            norm.BatchVariance = variance;
        }
        else
        {
            normed = GgmlApi.ggml_mul(ctx, GgmlApi.ggml_sub(ctx, viewed, Broadcast(norm.RunningMean)), Broadcast(norm.RunningInverseStd));
        }

        var shaped = before.Flat
            ? GgmlApi.ggml_reshape_2d(ctx, normed, channels, batch)
            : GgmlApi.ggml_reshape_4d(ctx, normed, before.Dims[2], before.Dims[1], channels, batch);
        return GgmlApi.ggml_add(ctx, GgmlApi.ggml_mul(ctx, shaped, layer.Parameters[0].Tensor), layer.Parameters[1].Tensor);
    }

    private sealed record LayerTensors(List<(IntPtr Tensor, long Count)> Parameters, IntPtr Mask, BatchNormState? Norm = null, ColumnGather? Gather = null, IntPtr KernelZeros = 0);

    // A gathered convolution's static tensors: the pixel row of every (kx, ky) of every output position (the zero row
    // after the last pixel where the kernel reaches into the padding) and the zeros the channel-last copy is added to.
    // RowsPerPosition is k·k, or more when zero rows pad the contraction C·RowsPerPosition to the tiled GEMM's multiple
    // (KernelZeros then holds the [C·RowsPerPosition, filters] zeros the flat kernel is copied into).
    // With Quadrants the positions are listed quadrant by quadrant (q = 2·dy + dx, then (px, py, n) of the outputs at
    // (2·px + dx, 2·py + dy)) for a max-pool computed from them (see PoolQuadrants); else in output order.
    private sealed record ColumnGather(int Kernel, int RowsPerPosition, IntPtr Rows, IntPtr Zeros, IntPtr KernelZeros, int[] Index, bool Quadrants)
    {
        // Past this many rows (four bytes each, in the static buffer) the convolution keeps im2col.
        private const long MaxRows = 1L << 24;

        public static ColumnGather? Create(SafeGgmlContextHandle context, int layer, NetworkLayer conv, NetworkShape input, NetworkShape output, int batch, int multiple,
            bool quadrants)
        {
            int k = conv.Kernel!.Value, s = conv.Stride!.Value, p = conv.Padding!.Value;
            int channels = input.Dims[0], height = input.Dims[1], width = input.Dims[2];
            int outHeight = output.Dims[1], outWidth = output.Dims[2];

            // Zero rows per position that make the contraction a multiple of the tiled GEMM's (e.g. 8 channels x 9
            // pixels = 72 -> 80 with AVX-512): at most k·k/4 more, or none.
            var perPosition = k * k;
            var extra = 0;
            while ((long)channels * (perPosition + extra) % multiple != 0 && extra <= perPosition / 4)
            {
                extra++;
            }

            perPosition += (long)channels * (perPosition + extra) % multiple == 0 ? extra : 0;
            var count = (long)batch * outHeight * outWidth * perPosition;
            var pixels = (long)batch * height * width;
            // ggml_acc keeps its strides as 32-bit integers: the padded copy's bytes must fit one.
            if (count > MaxRows || (pixels + 1) * channels * sizeof(float) > int.MaxValue)
            {
                return null;
            }

            var index = new int[count];
            var zeroRow = (int)pixels;
            var at = 0;
            var order = new List<(int N, int Y, int X)>(batch * outHeight * outWidth);
            foreach (var (dx, dy) in quadrants ? new[] { (0, 0), (1, 0), (0, 1), (1, 1) } : [(0, 0)])
            {
                var step = quadrants ? 2 : 1;
                for (var n = 0; n < batch; n++)
                {
                    for (var oy = dy; oy < outHeight; oy += step)
                    {
                        for (var ox = dx; ox < outWidth; ox += step)
                        {
                            order.Add((n, oy, ox));
                        }
                    }
                }
            }

            foreach (var (n, oy, ox) in order)
            {
                for (var ky = 0; ky < k; ky++)
                {
                    for (var kx = 0; kx < k; kx++)
                    {
                        int y = (oy * s) + ky - p, x = (ox * s) + kx - p;
                        index[at++] = y < 0 || y >= height || x < 0 || x >= width ? zeroRow : (((n * height) + y) * width) + x;
                    }
                }

                for (var e = k * k; e < perPosition; e++)
                {
                    index[at++] = zeroRow;
                }
            }

            var rows = GgmlApi.ggml_new_tensor_1d(context, GgmlType.I32, count);
            GgmlApi.ggml_set_name(rows, $"l{layer}.column_rows");
            var zeros = GgmlApi.ggml_new_tensor_2d(context, GgmlType.F32, (pixels + 1) * channels, 1);
            GgmlApi.ggml_set_name(zeros, $"l{layer}.column_zeros");
            var kernelZeros = IntPtr.Zero;
            if (perPosition > k * k)
            {
                kernelZeros = GgmlApi.ggml_new_tensor_2d(context, GgmlType.F32, (long)channels * perPosition, conv.Filters!.Value);
                GgmlApi.ggml_set_name(kernelZeros, $"l{layer}.column_kernel_zeros");
            }

            return new ColumnGather(k, perPosition, rows, zeros, kernelZeros, index, quadrants);
        }
    }

    // A batch-norm layer's statistics: the training graph's batch mean and variance (outputs read after each step),
    // the running values kept here, and the static tensors the inference graph reads them from.
    private sealed class BatchNormState(int channels, long perChannel, IntPtr runningMean, IntPtr runningInverseStd)
    {
        public long PerChannel { get; } = perChannel;

        public IntPtr RunningMean { get; } = runningMean;

        public IntPtr RunningInverseStd { get; } = runningInverseStd;

        public IntPtr BatchMean { get; set; }

        public IntPtr BatchVariance { get; set; }

        public float[] Mean { get; } = new float[channels];

        public float[] Variance { get; } = Enumerable.Repeat(1f, channels).ToArray();
    }
}
