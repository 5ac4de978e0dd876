using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Maas.Core.Llm;
using Maas.Server.Auth;
using Maas.Server.Payloads;
using Microsoft.Extensions.Options;

namespace Maas.Server.OpenAi;

/// <summary>What chat completions and completions share: model loading, limits, the n choices and their merged stream.</summary>
internal sealed class LlmGenerationService(
    LlmEngineManager manager,
    LlmModelResolver resolver,
    TokenBudget budget,
    LlmMetrics metrics,
    PayloadLog payloadLog,
    Deployments.DeploymentRouter router,
    Deployments.ShadowQueue shadowQueue,
    IOptions<LlmServingOptions> options)
{
    /// <summary>The server-wide LLM settings (request limits among them).</summary>
    public LlmServingOptions Options => options.Value;

    /// <summary>
    /// Checks the caller may use the model, resolves it and holds its engine (loading it on first use); dispose when
    /// the response is done. A model the caller may not see is answered exactly like one that does not exist.
    /// </summary>
    /// <remarks>
    /// <paramref name="keepAlive"/>, when given, is how long the model stays loaded after this request instead of its
    /// configured keep-alive (Ollama's keep_alive; zero: stay loaded, <see cref="Maas.Core.Hosting.ModelHost.UnloadWhenIdle"/>: unload when done).
    /// </remarks>
    public async Task<LlmSession> OpenAsync(HttpContext context, string model, CancellationToken cancellationToken, TimeSpan? keepAlive = null)
    {
        var (resolved, route) = await ResolveAsync(context, model, cancellationToken);
        if (keepAlive is { } keep)
        {
            resolved = resolved with { KeepAlive = keep };
        }

        context.Usage().ReportModel(resolved.Spec.Name, resolved.Spec.Version);
        Deployments.DeploymentRouter.SetVersionHeader(context, resolved.Spec.Version.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var lease = await manager.AcquireAsync(resolved.Request, cancellationToken);
        var payloads = await payloadLog.IsOnAsync(resolved.Spec.Name, cancellationToken) ? payloadLog : null;
        var copiesFor = shadowQueue.WantsCopies(route) ? route : null;
        return new LlmSession(context, lease, resolved, metrics.Start(resolved, context, model), payloads, copiesFor);
    }

    /// <summary>
    /// The version a call naming <paramref name="model"/> reaches (access checked, a deployment's split applied), without
    /// loading it. A model the caller may not see is answered exactly like one that does not exist.
    /// </summary>
    public async Task<(ResolvedLlm Resolved, Deployments.DeploymentRoute? Route)> ResolveAsync(HttpContext context, string model, CancellationToken cancellationToken)
    {
        var access = await context.CheckModelAccessAsync(model, write: false, cancellationToken);
        if (access.Result == ModelAccessResult.Hidden)
        {
            throw new LlmException(LlmErrorKind.NotFound, access.NotFoundHint ?? $"The model '{Maas.Core.Registry.RegistryNames.Shorten(model)}' does not exist", "model",
                "model_not_found");
        }

        // The caller's name is resolved once: from here on the model is named by its key.
        // A model with a deployment answers from the version its split picks (a named alias or version bypasses it).
        var reference = access.Reference;
        var route = router.Route(context, reference);
        if (route is not null)
        {
            reference = $"{reference}/versions/{route.VersionText}";
        }

        return (await resolver.ResolveAsync(reference, cancellationToken), route);
    }

    /// <summary>Checks the prompt against the context and limits and builds one generation request per choice.</summary>
    /// <remarks>The prompt's tokens are metered here; completion tokens when the session ends.</remarks>
    public IReadOnlyList<GenerationRequest> Prepare(LlmSession session, IReadOnlyList<int> prompt, GenerationParameters p, IReadOnlyList<string> extraStops, string requestId)
    {
        var engine = session.Engine;
        Check(engine, prompt, p);
        var maxTokens = GenerationLimits.Resolve(prompt.Count, p.MaxTokens, engine.Info.ContextPerSlot, options.Value.MaxTokensPerRequest, p.MaxTokensParam, p.PromptParam);
        var tokens = (long)(prompt.Count + maxTokens) * p.N;
        session.Hold(budget.Reserve(tokens, session.ReservedTokens), tokens);
        session.Context.Usage().ReportTokens(prompt.Count, 0);
        session.KeepPrompt(prompt);
        var requests = Choices(prompt, p, maxTokens, extraStops, requestId, session.Track);
        session.Timer.Prepared(p, maxTokens, prompt.Count, requests);
        return requests;
    }

    /// <summary>Refuses a prompt or logit bias the engine's vocabulary cannot take (400).</summary>
    public static void Check(ILlmEngine engine, IReadOnlyList<int> prompt, GenerationParameters p)
    {
        var info = engine.Info;
        foreach (var token in p.LogitBias.Keys)
        {
            if ((uint)token >= (uint)info.VocabularySize)
            {
                throw LlmException.Invalid($"'logit_bias' holds token id {token}, but the model's vocabulary has {info.VocabularySize} tokens (ids 0 to " +
                    $"{info.VocabularySize - 1})", "logit_bias");
            }
        }

        if (prompt.Count == 0)
        {
            throw LlmException.Invalid("the prompt is empty", "prompt");
        }

        foreach (var token in prompt)
        {
            if ((uint)token >= (uint)info.VocabularySize)
            {
                throw LlmException.Invalid($"the prompt holds token id {token}, but the model's vocabulary has {info.VocabularySize} tokens (ids 0 to {info.VocabularySize - 1})",
                    "prompt");
            }
        }
    }

    /// <summary>One generation request per choice of <paramref name="p"/>.</summary>
    public static GenerationRequest[] Choices(IReadOnlyList<int> prompt, GenerationParameters p, int maxTokens, IReadOnlyList<string> extraStops, string requestId,
        Func<GenerationProgress?> progress)
    {
        var stops = p.Stop.Concat(extraStops).ToArray();
        var requests = new GenerationRequest[p.N];
        for (var i = 0; i < p.N; i++)
        {
            requests[i] = new GenerationRequest
            {
                PromptTokens = prompt,
                MaxTokens = maxTokens,
                Stop = stops,
                // Each choice draws its own tokens; a fixed seed stays reproducible per choice.
                Sampling = p.Sampling with { LogitBias = p.LogitBias, Seed = p.Sampling.Seed is { } s ? unchecked(s + (uint)i) : null },
                Grammar = p.Grammar,
                Logprobs = p.Logprobs,
                TopLogprobs = p.TopLogprobs,
                ReturnTokens = p.ReturnTokens,
                RequestId = p.N == 1 ? requestId : $"{requestId}/{i}",
                Progress = progress(),
            };
        }

        return requests;
    }

    /// <summary>Meters an event's latency (completion tokens are billed when the session ends, see <see cref="LlmSession.Dispose"/>).</summary>
    public static void Meter(LlmSession session, ChoiceEvent choice)
    {
        session.Timer.Observe(choice);
        session.KeepOutput(choice);
    }

    /// <summary>
    /// Submits every choice in one queue operation, so they start at the same step (a full queue throws here, before
    /// anything is sent), and returns their events merged in the order they arrive.
    /// </summary>
    /// <remarks>A request of more sequences than the model's slots and queue hold together is refused (400).</remarks>
    public IAsyncEnumerable<ChoiceEvent> Start(LlmSession session, IReadOnlyList<GenerationRequest> requests, CancellationToken cancellationToken)
    {
        var engine = session.Engine;
        // All choices are queued at once: more than the slots plus the queue hold never fit, so a retry (429) cannot help.
        var spec = session.Resolved.Spec;
        var most = (long)engine.Info.Slots + spec.QueueLimit;
        if (requests.Count > most)
        {
            throw LlmException.Invalid(
                $"the request asks for {requests.Count} sequences (prompts times n), but model '{spec.Name}' takes at most {most} at once ({engine.Info.Slots} slots and a " +
                $"queue of {spec.QueueLimit}: Maas:Llm:Slots and Maas:Llm:QueueLimit, or the model's parallel_sequences and queue_limit)",
                "n",
                "too_many_sequences");
        }

        return Start(engine, requests, cancellationToken);
    }

    /// <summary>As <see cref="Start(LlmSession, IReadOnlyList{GenerationRequest}, CancellationToken)"/> without a caller's session (a deployment's copies).</summary>
    public IAsyncEnumerable<ChoiceEvent> Start(ILlmEngine engine, IReadOnlyList<GenerationRequest> requests, CancellationToken cancellationToken)
    {
        var cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        IReadOnlyList<IAsyncEnumerable<GenerationEvent>> streams;
        try
        {
            streams = engine.GenerateTogether(requests, cancel.Token);
        }
        catch
        {
            cancel.Cancel();
            cancel.Dispose();
            throw;
        }

        return Merge(streams, cancel);
    }

    private static async IAsyncEnumerable<ChoiceEvent> Merge(IReadOnlyList<IAsyncEnumerable<GenerationEvent>> streams, CancellationTokenSource cancel,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var owned = cancel;
        using var link = cancellationToken.Register(cancel.Cancel);
        if (streams.Count == 1)
        {
            await foreach (var e in streams[0].WithCancellation(cancel.Token))
            {
                yield return new ChoiceEvent(0, e);
            }

            yield break;
        }

        var channel = Channel.CreateUnbounded<ChoiceEvent>(new UnboundedChannelOptions { SingleReader = true });
        var pumps = streams.Select((stream, index) => Pump(stream, index, channel.Writer, cancel.Token)).ToArray();
        _ = Task.WhenAll(pumps).ContinueWith(
            t => channel.Writer.TryComplete(t.Exception?.InnerException),
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
        try
        {
            await foreach (var e in channel.Reader.ReadAllAsync(cancel.Token))
            {
                yield return e;
            }
        }
        finally
        {
            // Stop the other choices when the caller leaves early or one choice failed.
            cancel.Cancel();
            try
            {
                await Task.WhenAll(pumps);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // Already reported through the channel, or the caller went away.
            }
        }
    }

    private static async Task Pump(IAsyncEnumerable<GenerationEvent> stream, int index, ChannelWriter<ChoiceEvent> writer, CancellationToken cancellationToken)
    {
        await foreach (var e in stream.WithCancellation(cancellationToken))
        {
            await writer.WriteAsync(new ChoiceEvent(index, e), cancellationToken);
        }
    }
}
