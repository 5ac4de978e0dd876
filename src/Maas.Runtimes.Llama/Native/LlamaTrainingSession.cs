using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Maas.Runtimes.Llama.Native;

/// <summary>
/// llama.cpp's training API on one model: <c>llama_opt_init</c> with AdamW, then one <c>llama_opt_epoch</c> per packed
/// window, so the caller can cancel and report between windows.
/// </summary>
/// <remarks>
/// llama.cpp trains on every position of a window. To train on assistant tokens only, the scheduler's eval callback
/// stops at the logits (<c>result_output</c>) of each micro-batch, measures the loss on the trained positions, and
/// replaces the one-hot label of every other position by the model's own softmax: the cross-entropy gradient
/// (softmax - label) of those rows is then exactly zero. The weights must be F32 in memory (llama.cpp marks only F32
/// tensors as trainable), so the model is loaded without memory mapping.
/// </remarks>
internal sealed unsafe class LlamaTrainingSession : IDisposable
{
    [ThreadStatic]
    private static LlamaTrainingSession? running;

    private static readonly byte[] LogitsName = "result_output"u8.ToArray();

    private readonly SafeLlamaModelHandle model;
    private readonly SafeLlamaContextHandle context;
    private readonly SafeGgmlOptDatasetHandle dataset;
    private readonly GCHandle self;
    private readonly GgmlOptOptimizerParams* optimizer;
    private readonly int vocabulary;
    private readonly int firstTrainedLayer;
    private int[] labels = [];
    private bool[] trained = [];
    private float[] rows = [];
    private bool active;
    private bool backward;
    private int position;
    private double lossSum;
    private long lossTokens;
    private IntPtr optContext;
    private Exception? callbackError;

    private LlamaTrainingSession(SafeLlamaModelHandle model, TrainingSessionSettings settings, int vocabulary)
    {
        this.model = model;
        this.vocabulary = vocabulary;
        firstTrainedLayer = settings.FirstTrainedLayer;
        Window = settings.Window;
        self = GCHandle.Alloc(this);
        optimizer = (GgmlOptOptimizerParams*)NativeMemory.Alloc((nuint)sizeof(GgmlOptOptimizerParams));
        *optimizer = NativeApi.ggml_opt_get_default_optimizer_params(IntPtr.Zero);
        optimizer->AdamWWeightDecay = 0f;

        var p = NativeApi.llama_context_default_params();
        p.NCtx = (uint)settings.Window;
        p.NBatch = (uint)settings.TokensPerStep;
        p.NUbatch = (uint)settings.MicroBatch;
        p.NSeqMax = 1;
        p.NThreads = settings.Threads;
        p.NThreadsBatch = settings.Threads;
        p.FlashAttnType = LlamaFlashAttention.Disabled; // FLASH_ATTN_EXT has no backward pass
        p.TypeK = 0; // GGML_TYPE_F32: OUT_PROD, used by the backward pass, has no F16 kernel
        p.TypeV = 0;
        p.NoPerf = 1;
        p.CbEval = (IntPtr)(delegate* unmanaged[Cdecl]<IntPtr, byte, IntPtr, byte>)&OnEval;
        p.CbEvalUserData = GCHandle.ToIntPtr(self);
        try
        {
            LlamaLogging.BeginCapture();
            context = SafeLlamaContextHandle.Create(model, p) ?? throw new LlamaException(
                $"llama_init_from_model failed for training with n_ctx={p.NCtx}, n_batch={p.NBatch}, n_ubatch={p.NUbatch}", LlamaLogging.TakeErrors());
            var size = (int)NativeApi.llama_n_ctx(context);
            if (size != settings.Window)
            {
                throw new ArgumentOutOfRangeException(nameof(settings), settings.Window, $"llama.cpp sized the context to {size} tokens: the window must be a multiple of 256");
            }

            dataset = SafeGgmlOptDatasetHandle.Create(settings.Window, 1);
        }
        catch
        {
            Release();
            throw;
        }
    }

    /// <summary>Tokens per window.</summary>
    public int Window { get; }

    /// <summary>Opens a session on a model loaded without memory mapping; the model's weights change in place as it trains.</summary>
    public static LlamaTrainingSession Create(SafeLlamaModelHandle model, TrainingSessionSettings settings, int vocabulary)
    {
        var session = new LlamaTrainingSession(model, settings, vocabulary);
        try
        {
            session.Initialize();
            return session;
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>AdamW steps taken: ggml asks for the optimizer's parameters once per step, right before it.</summary>
    public long OptimizerSteps { get; private set; }

    /// <summary>AdamW's learning rate for the next optimizer steps.</summary>
    public float LearningRate
    {
        get => optimizer->AdamWAlpha;
        set => optimizer->AdamWAlpha = value;
    }

    /// <summary>Runs forward and backward passes over one window and steps the optimizer; returns the loss over the trained positions.</summary>
    /// <param name="tokens">The window's tokens.</param>
    /// <param name="nextTokens">For each position, the token that follows it.</param>
    /// <param name="trainedPositions">For each position, whether its next token counts (an assistant token).</param>
    public (double LossSum, long Tokens) Train(ReadOnlySpan<int> tokens, ReadOnlySpan<int> nextTokens, ReadOnlySpan<bool> trainedPositions) =>
        Run(tokens, nextTokens, trainedPositions, train: true);

    /// <summary>Runs only the forward pass over one window; returns the loss over the trained positions.</summary>
    public (double LossSum, long Tokens) Evaluate(ReadOnlySpan<int> tokens, ReadOnlySpan<int> nextTokens, ReadOnlySpan<bool> trainedPositions) =>
        Run(tokens, nextTokens, trainedPositions, train: false);

    /// <summary>Writes the model with its current weights as a GGUF file (llama_model_save_to_file).</summary>
    public void Save(string path)
    {
        LlamaLogging.BeginCapture();
        NativeApi.llama_model_save_to_file(model, path);
        if (!File.Exists(path))
        {
            throw new LlamaException($"llama_model_save_to_file('{path}') wrote nothing", LlamaLogging.TakeErrors());
        }
    }

    public void Dispose()
    {
        context?.Dispose();
        dataset?.Dispose();
        Release();
    }

    private void Release()
    {
        if (self.IsAllocated)
        {
            self.Free();
        }

        NativeMemory.Free(optimizer);
    }

    private void Initialize()
    {
        // The scheduler takes the eval callback from the context when a decode builds its graph; training graphs run on
        // the same scheduler afterwards, so one decode of one token installs it.
        using (var batch = new LlamaBatch(1))
        {
            batch.Add(0, 0, 0, output: true);
            var status = context.Decode(batch.Handle);
            if (status != 0)
            {
                throw new LlamaException($"llama_decode of the warm-up token failed with status {status}");
            }
        }

        context.MemoryClear(data: true);
        var parameters = new LlamaOptParams
        {
            NCtxTrain = 0,
            ParamFilter = (IntPtr)(delegate* unmanaged[Cdecl]<IntPtr, IntPtr, byte>)&OnParamFilter,
            ParamFilterUserData = GCHandle.ToIntPtr(self),
            GetOptPars = (IntPtr)(delegate* unmanaged[Cdecl]<IntPtr, GgmlOptOptimizerParams>)&OnOptimizerStep,
            GetOptParsUserData = GCHandle.ToIntPtr(self),
            OptimizerType = GgmlOptOptimizerType.AdamW,
        };
        NativeApi.llama_opt_init(context, model, parameters);
    }

    private (double LossSum, long Tokens) Run(ReadOnlySpan<int> tokens, ReadOnlySpan<int> nextTokens, ReadOnlySpan<bool> trainedPositions, bool train)
    {
        if (trainedPositions.Length != Window)
        {
            throw new ArgumentException($"a window holds exactly {Window} positions", nameof(trainedPositions));
        }

        foreach (var token in nextTokens)
        {
            if ((uint)token >= (uint)vocabulary)
            {
                throw new ArgumentOutOfRangeException(nameof(nextTokens), token, $"token ids are 0 to {vocabulary - 1}");
            }
        }

        // Masking needs the optimizer context's labels tensor, which only a callback hands out: the first window
        // of a session is therefore evaluated once (forward only) before it trains.
        if (train && optContext == IntPtr.Zero)
        {
            Run(tokens, nextTokens, trainedPositions, train: false);
        }

        dataset.Set(0, tokens, nextTokens);
        labels = nextTokens.ToArray();
        trained = trainedPositions.ToArray();
        position = 0;
        lossSum = 0;
        lossTokens = 0;
        backward = train;
        callbackError = null;
        active = true;
        running = this;
        var callback = (delegate* unmanaged[Cdecl]<byte, IntPtr, IntPtr, IntPtr, long, long, long, void>)&OnBatch;
        try
        {
            NativeApi.llama_opt_epoch(context, dataset, IntPtr.Zero, IntPtr.Zero, train ? 1 : 0, callback, callback);
        }
        finally
        {
            active = false;
            running = null;
        }

        if (callbackError is { } error)
        {
            throw new LlamaException($"the training callback failed: {error.Message}");
        }

        if (position != Window)
        {
            throw new LlamaException($"llama_opt_epoch computed {position} of {Window} positions", LlamaLogging.TakeErrors());
        }

        return (lossSum, lossTokens);
    }

    /// <summary>The logits of one micro-batch: measure the loss, and neutralise the labels of untrained positions.</summary>
    private void OnLogits(IntPtr logits)
    {
        var count = (int)NativeApi.ggml_nrows(logits);
        var elements = (long)count * vocabulary;
        if (NativeApi.ggml_nelements(logits) != elements)
        {
            throw new InvalidOperationException($"the logits hold {NativeApi.ggml_nelements(logits)} values, not {count} x {vocabulary}");
        }

        if (rows.Length < elements)
        {
            rows = new float[elements];
        }

        var labelTensor = backward ? NativeApi.ggml_opt_labels(optContext) : IntPtr.Zero;
        fixed (float* all = rows)
        {
            NativeApi.ggml_backend_tensor_get(logits, all, 0, (nuint)(elements * sizeof(float)));
            for (var r = 0; r < count; r++, position++)
            {
                // log-sum-exp and softmax over the vocabulary, vectorised: this runs on every position of every window
                // (a large share of a step with a big vocabulary and small layers).
                var row = new Span<float>(all + ((long)r * vocabulary), vocabulary);
                var max = TensorPrimitives.Max(row);
                var label = row[labels[position]];
                TensorPrimitives.Subtract(row, max, row);
                TensorPrimitives.Exp(row, row);
                var sum = (double)TensorPrimitives.Sum(row);
                if (trained[position])
                {
                    lossSum += max + Math.Log(sum) - label;
                    lossTokens++;
                }
                else if (backward)
                {
                    // The label of an untrained position is the model's own distribution: its gradient is zero.
                    TensorPrimitives.Multiply(row, (float)(1.0 / sum), row);
                    NativeApi.ggml_backend_tensor_set(labelTensor, all + ((long)r * vocabulary), (nuint)((long)r * vocabulary * sizeof(float)),
                        (nuint)(vocabulary * sizeof(float)));
                }
            }
        }
    }

    private static bool IsLogits(IntPtr tensor)
    {
        var name = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(NativeApi.ggml_get_name(tensor));
        return name.SequenceEqual(LogitsName);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static byte OnEval(IntPtr tensor, byte ask, IntPtr userData)
    {
        try
        {
            if (GCHandle.FromIntPtr(userData).Target is not LlamaTrainingSession { active: true } session || session.callbackError is not null)
            {
                return ask != 0 ? (byte)0 : (byte)1;
            }

            if (ask != 0)
            {
                return IsLogits(tensor) ? (byte)1 : (byte)0;
            }

            session.OnLogits(tensor);
            return 1;
        }
        catch (Exception e)
        {
            if (GCHandle.FromIntPtr(userData).Target is LlamaTrainingSession session)
            {
                session.callbackError = e;
            }

            return ask != 0 ? (byte)0 : (byte)1; // an exception must never unwind into native code
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnBatch(byte train, IntPtr optContext, IntPtr dataset, IntPtr result, long batch, long batchCount, long startMicroseconds)
    {
        if (running is { } session)
        {
            session.optContext = optContext;
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static GgmlOptOptimizerParams OnOptimizerStep(IntPtr userData)
    {
        // Cannot fail while the session lives (it owns the handle); ggml's defaults keep native code safe regardless.
        if (GCHandle.FromIntPtr(userData).Target is not LlamaTrainingSession session)
        {
            return NativeApi.ggml_opt_get_default_optimizer_params(IntPtr.Zero);
        }

        session.OptimizerSteps++;
        return *session.optimizer;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static byte OnParamFilter(IntPtr tensor, IntPtr userData)
    {
        try
        {
            var session = (LlamaTrainingSession)GCHandle.FromIntPtr(userData).Target!;
            if (session.firstTrainedLayer <= 0)
            {
                return 1;
            }

            // Layer tensors are named "blk.N.<what>"; the rest (output, norms) always train.
            var name = Marshal.PtrToStringUTF8((IntPtr)NativeApi.ggml_get_name(tensor)) ?? string.Empty;
            if (!name.StartsWith("blk.", StringComparison.Ordinal))
            {
                return 1;
            }

            var end = name.IndexOf('.', 4);
            return end > 4 && int.TryParse(name.AsSpan(4, end - 4), out var layer) && layer >= session.firstTrainedLayer ? (byte)1 : (byte)0;
        }
        catch
        {
            return 1;
        }
    }
}
