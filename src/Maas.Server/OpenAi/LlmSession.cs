using System.Text;
using System.Text.Json;
using Maas.Core.Llm;
using Maas.Server.Auth;
using Maas.Server.Payloads;

namespace Maas.Server.OpenAi;

/// <summary>A request's hold on a loaded model: the engine, what the registry said, and its token reservation.</summary>
internal sealed class LlmSession(HttpContext context, LlmEngineLease lease, ResolvedLlm resolved, LlmMetrics.Timer timer, PayloadLog? payloads,
    Deployments.DeploymentRoute? copiesFor = null) : IDisposable
{
    // Generated text is kept per choice for the payload log and for a deployment's copies of the call.
    private readonly bool _keepText = payloads is not null || copiesFor is not null;
    private readonly List<IDisposable> _reservations = [];
    private readonly List<GenerationProgress> _choices = [];
    private readonly List<string> _prompts = [];
    private readonly List<StringBuilder> _outputs = [];

    public ILlmEngine Engine => lease.Engine;

    public ResolvedLlm Resolved { get; } = resolved;

    public HttpContext Context { get; } = context;

    public LlmMetrics.Timer Timer { get; } = timer;

    /// <summary>The call's deployment route when its deployment wants copies of it (shadows, a comparing canary); null otherwise.</summary>
    public Deployments.DeploymentRoute? CopiesFor { get; } = copiesFor;

    /// <summary>The text generated per choice (kept only for the payload log or a deployment's copies).</summary>
    public IReadOnlyList<string> Texts => [.. _outputs.Select(o => o.ToString())];

    /// <summary>Tokens this request reserved so far in the server's token budget (all its prompts and choices).</summary>
    public long ReservedTokens { get; private set; }

    public void Hold(IDisposable reservation, long tokens)
    {
        _reservations.Add(reservation);
        ReservedTokens += tokens;
    }

    /// <summary>A counter for one more choice's generated tokens, metered when the session ends.</summary>
    public GenerationProgress Track()
    {
        var progress = new GenerationProgress();
        _choices.Add(progress);
        if (_keepText)
        {
            _outputs.Add(new StringBuilder());
        }

        return progress;
    }

    /// <summary>Keeps a prompt for the payload log (only when the model's payloads are logged).</summary>
    public void KeepPrompt(IReadOnlyList<int> prompt)
    {
        if (payloads is not null)
        {
            _prompts.Add(Engine.Detokenize(prompt, renderSpecial: true));
        }
    }

    /// <summary>Keeps a choice's generated text for the payload log (only when the model's payloads are logged).</summary>
    public void KeepOutput(ChoiceEvent choice)
    {
        if (_keepText && choice.Index < _outputs.Count)
        {
            _outputs[choice.Index].Append(choice.Event.Text);
        }
    }

    public void Dispose()
    {
        Timer.Complete();
        // Completion tokens are billed from the engine's own count, so a stream the caller abandoned is billed too.
        long generated = 0;
        foreach (var choice in _choices)
        {
            generated += choice.GeneratedTokens;
        }

        Context.Usage().ReportTokens(0, generated);
        // Only what there was: a request that only loaded the model logs nothing, embeddings their inputs (no text out).
        if (payloads is not null && _prompts.Count > 0)
        {
            var model = Resolved.Spec.Name;
            payloads.Write(Context, model, "request", JsonSerializer.Serialize(_prompts));
            if (_outputs.Count > 0)
            {
                payloads.Write(Context, model, "response", JsonSerializer.Serialize(_outputs.Select(o => o.ToString())));
            }
        }

        foreach (var r in _reservations)
        {
            r.Dispose();
        }

        lease.Dispose();
    }
}
