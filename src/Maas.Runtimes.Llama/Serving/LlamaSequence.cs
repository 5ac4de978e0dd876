using System.Threading.Channels;
using Maas.Core.Llm;

namespace Maas.Runtimes.Llama.Serving;

/// <summary>One generation request inside the engine: its prompt, sampler, output channel and where it is in its slot.</summary>
internal sealed class LlamaSequence(GenerationRequest request, LlamaSequenceSampler sampler, StreamingDetokenizer detokenizer, StopSequenceMatcher stop)
{
    // 1 once the request is over (set once, by whichever thread ends it).
    public int Done;

    public volatile bool Cancelled;

    public GenerationRequest Request { get; } = request;

    // The tokens decoded for the prompt: the request's own, or its text spelled with a cached sequence's head (reuse by text).
    public int[] Prompt { get; set; } = [.. request.PromptTokens];

    // The prompt's length in the request's own tokens: what usage reports, whatever tokens spell the text.
    public int PromptLength { get; } = request.PromptTokens.Count;

    public LlamaSequenceSampler Sampler { get; } = sampler;

    // Its prompt is scored (GenerationRequest.PromptLogprobs): decoded whole, every position an output.
    public bool ScoresPrompt { get; } = request.PromptLogprobs;

    // The prompt tokens' logprobs so far (with ScoresPrompt), sent on one event when the prompt is decoded.
    public List<TokenLogprob>? PromptLogprobs { get; set; }

    // With ScoresPrompt: the batch index of the first token of this step's prompt chunk (its logits follow in order).
    public int PromptOutputStart { get; set; } = -1;

    public StreamingDetokenizer Detokenizer { get; } = detokenizer;

    public StopSequenceMatcher Stop { get; } = stop;

    public Channel<GenerationEvent> Events { get; } = Channel.CreateUnbounded<GenerationEvent>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = true, AllowSynchronousContinuations = false });

    public CancellationTokenRegistration Registration { get; set; }

    public int Slot { get; set; } = -1;

    public int PromptCursor { get; set; }

    public int Position { get; set; }

    public int? PendingToken { get; set; }

    public int Generated { get; set; }

    // Prompt tokens not computed, in the request's own tokens (see LlamaKvCache.Place).
    public int Cached { get; set; }

    public int OutputIndex { get; set; } = -1;

    public int StepTokens { get; set; }

    // Steps in a row its prompt got no tokens (see PromptStepPlanner.MaxPassOvers).
    public int PassedOver { get; set; }

    // Where its timeline went (Stopwatch timestamps and ticks), for the engine's Debug line when it ends.
    public long QueuedAt { get; set; }

    public long PlacedAt { get; set; }

    public long PlaceTicks { get; set; }

    public long FirstTokenAt { get; set; }

    public long DecodeTicks { get; set; }

    public int Steps { get; set; }

    // Where its cached prompt tokens came from: its slot's own, a copy of another slot's, or host memory.
    public string CacheSource { get; set; } = "none";

    // Its prompt was spelled with a cached sequence's tokens where those spell the same text (reuse by text).
    public bool SpelledByText { get; set; }

    // Characters of text the generated tokens made so far, and how many of them were released to the caller (the rest
    // is held back as the possible start of a stop string, or was cut with one).
    public int ProducedChars { get; set; }

    public int ReleasedChars { get; set; }

    // With GenerationRequest.ReturnTokens: each generated token and where its text starts.
    private readonly List<(int Token, int Start)>? _generatedTokens = request.ReturnTokens ? [] : null;

    // Logprobs of tokens whose text is not all released yet, each with where its text starts and ends.
    private readonly Queue<(TokenLogprob Logprob, int Start, int End)> _heldLogprobs = new();

    /// <summary>Holds a generated token's logprob until the <paramref name="chars"/> characters of text it made are released.</summary>
    public void HoldLogprob(TokenLogprob logprob, int chars)
    {
        _heldLogprobs.Enqueue((logprob, ProducedChars, ProducedChars + chars));
        ProducedChars += chars;
    }

    /// <summary>
    /// The held logprobs whose text is released now: all of it while generating (a token that made no text of its own,
    /// part of a character, goes with the character); at the end every one, unless a stop string ended the text: then
    /// each token whose text begins in the text returned, the others (the stop string's, cut from it) dropped.
    /// Null when there are none.
    /// </summary>
    public List<TokenLogprob>? ReleaseLogprobs(bool final)
    {
        List<TokenLogprob>? released = null;
        while (_heldLogprobs.TryPeek(out var held)
            && (!final ? ReleasedChars >= held.End && ReleasedChars > held.Start : !Stop.Stopped || held.Start < ReleasedChars))
        {
            (released ??= []).Add(_heldLogprobs.Dequeue().Logprob);
        }

        if (final)
        {
            _heldLogprobs.Clear();
        }

        return released;
    }

    /// <summary>Keeps a generated token (with ReturnTokens); called before its characters are counted as produced.</summary>
    public void KeepToken(int token) => _generatedTokens?.Add((token, ProducedChars));

    /// <summary>
    /// The generated tokens for the last event (null without ReturnTokens): all of them, unless a stop string ended
    /// the text: then those whose text begins in the text returned, as for the logprobs.
    /// </summary>
    public int[]? GeneratedTokens() =>
        _generatedTokens?.Where(t => !Stop.Stopped || t.Start < ReleasedChars).Select(t => t.Token).ToArray();

    /// <summary>Marks the request over; true for the one caller that did so.</summary>
    public bool TryEnd() => Interlocked.Exchange(ref Done, 1) == 0;
}
