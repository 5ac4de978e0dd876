using Maas.Core.Formats.Gguf;
using Maas.Core.Llm;
using Maas.Runtimes.Llama.Serving;
using Maas.Testing;

namespace Maas.Runtimes.Llama.Tests;

/// <summary>Models the llama tests share: the shared tiny Llama-2 and a small random Llama our GGUF writer makes.</summary>
public sealed class LlamaTestModels : IDisposable
{
    /// <summary>The real-vocabulary test model in ../shared/models.</summary>
    public const string TinyLlama = "llama-2-tiny-random.gguf";

    /// <summary>Shape of the generated model: small enough to write and load in milliseconds.</summary>
    public static readonly GgufLlamaModelOptions GeneratedOptions = GgufLlamaModelOptions.Demo with
    {
        Name = "maas-test-llama",
        EmbeddingLength = 64,
        BlockCount = 2,
        HeadCount = 4,
        KeyValueHeadCount = 2,
        FeedForwardLength = 128,
        ContextLength = 1024,
        VocabularySize = 1000,
    };

    private readonly Lazy<LlamaModel> tiny = new(() => LlamaModel.Load(SharedModels.PathOf(TinyLlama)));
    private readonly Lazy<LlamaModel> generated;

    public LlamaTestModels()
    {
        Folder = Directory.CreateTempSubdirectory("maas-llama-tests-").FullName;
        GeneratedPath = Path.Combine(Folder, "generated.gguf");
        generated = new(() =>
        {
            GgufLlamaModelFactory.Write(GeneratedPath, GeneratedOptions);
            return LlamaModel.Load(GeneratedPath);
        });
    }

    /// <summary>A scratch folder removed after the run.</summary>
    public string Folder { get; }

    /// <summary>Where the generated model is written.</summary>
    public string GeneratedPath { get; }

    /// <summary>The shared tiny Llama-2 (SentencePiece vocabulary of 32000 tokens, no chat template).</summary>
    public LlamaModel Tiny => tiny.Value;

    /// <summary>The generated random Llama (byte-level BPE vocabulary, ChatML template).</summary>
    public LlamaModel Generated => generated.Value;

    /// <summary>A generated model of other options, written once into the scratch folder.</summary>
    public string Written(string fileName, GgufLlamaModelOptions options)
    {
        var path = Path.Combine(Folder, fileName);
        lock (Folder)
        {
            if (!File.Exists(path))
            {
                GgufLlamaModelFactory.Write(path, options);
            }
        }

        return path;
    }

    /// <summary>
    /// The generated shape with larger weights: the default small weights leave the output nearly blind to the
    /// context, so tests that compare generations need this one.
    /// </summary>
    public string ContextSensitive => Written("context-sensitive.gguf", GeneratedOptions with { WeightStd = 0.3f, ContextLength = 8192 });

    /// <summary>
    /// An engine on <see cref="ContextSensitive"/>: 3 slots (unless told) of 1024 tokens, 2 threads, no host prompt cache and a
    /// fixed staggered budget (unless told).
    /// </summary>
    public LlamaEngine ContextSensitiveEngine(int batchSize, bool prefixCache, bool unified, LlmPromptAdmission admission = LlmPromptAdmission.Auto, int slots = 3,
        long promptCacheBytes = 0, int promptChunkTokens = 128, Microsoft.Extensions.Logging.ILogger? logger = null, bool promptReuseByText = false, int promptBurstPrompts = 0) =>
        LlamaEngine.Load(new LlmModelSpec
        {
            Name = "generated",
            Version = 1,
            Path = ContextSensitive,
            Slots = slots,
            PromptCacheBytes = promptCacheBytes,
            ContextPerSlot = 1024,
            BatchSize = batchSize,
            Threads = 2,
            PrefixCache = prefixCache,
            UnifiedKvCache = unified,
            PromptAdmission = admission,
            PromptChunkTokens = promptChunkTokens,
            PromptBurstPrompts = promptBurstPrompts,
            PromptReuseByText = promptReuseByText,
        }, logger);

    /// <summary>A greedy request with logprobs that runs to <paramref name="maxTokens"/> (end tokens ignored).</summary>
    public static GenerationRequest Greedy(int[] prompt, int maxTokens) => new()
    {
        PromptTokens = prompt,
        MaxTokens = maxTokens,
        Sampling = new SamplingOptions { Temperature = 0, IgnoreEos = true },
        Logprobs = true,
    };

    /// <summary>A small context suited to this 2-core machine.</summary>
    public static LlamaContextOptions SmallContext(uint sequences = 1) => new()
    {
        ContextSize = 512,
        BatchSize = 256,
        MicroBatchSize = 256,
        SequenceCount = sequences,
        Threads = 2,
    };

    public void Dispose()
    {
        if (tiny.IsValueCreated)
        {
            tiny.Value.Dispose();
        }

        if (generated.IsValueCreated)
        {
            generated.Value.Dispose();
        }

        Directory.Delete(Folder, recursive: true);
    }
}

/// <summary>One collection: the llama tests share the models and run one after another (the machine has two cores).</summary>
[CollectionDefinition(Name)]
public sealed class LlamaCollection : ICollectionFixture<LlamaTestModels>
{
    public const string Name = "llama";
}
