using System.Globalization;
using System.Text;
using Maas.Core.Formats.Gguf;

namespace Maas.Bench.Llm;

/// <summary>Writes the benchmark's section of docs/benchmarks.md (between its own markers, other sections untouched).</summary>
public static class Report
{
    private const string Start = "<!-- maas-bench-llm:start -->";
    private const string End = "<!-- maas-bench-llm:end -->";

    public static string Markdown(IReadOnlyList<ScenarioResult> results, GgufLlamaModelOptions model, int threads, int slots, int contextPerSlot, int maxTokens, int rounds,
        string engineStats, string load, IReadOnlyList<string> args, string? setup = null)
    {
        var s = new StringBuilder();
        s.AppendLine(Start);
        s.AppendLine("## LLM serving: MaaS vs llama-server");
        s.AppendLine();
        s.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Run {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC by `dotnet run -c Release --project " +
            $"bench/Maas.Bench.Llm{(args.Count == 0 ? "" : " -- " + string.Join(' ', args))}` on {Environment.ProcessorCount} cores " +
            $"({System.Runtime.InteropServices.RuntimeInformation.OSDescription})."));
        s.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Model: generated random-weight Llama, dim {model.EmbeddingLength}, {model.BlockCount} layers, vocabulary " +
            $"{model.VocabularySize}, {model.ParameterCount / 1e6:F0}M parameters, Q8_0 (our GGUF writer). "));
        s.AppendLine(setup ?? string.Create(CultureInfo.InvariantCulture, $"Both servers: {threads} threads, {slots} slots x {contextPerSlot} tokens, batch 512. "));
        s.AppendLine(string.Create(CultureInfo.InvariantCulture, $"llama-server built from the same llama.cpp source (node-llama-cpp 3.22.1's bundle, " +
            $"`bench/llama-server/build.sh`: native CPU flags, ggml's own thread pool rather than OpenMP, as in the prebuilt engine MaaS loads). "));
        s.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Workload: streamed chat completions, {maxTokens} tokens each (`ignore_eos`, temperature 0), N concurrent " +
            $"streams; {rounds} rounds per scenario with the servers taking turns (tokens/s: the median round; latencies: every completed request of every round; a request " +
            $"that got an error status or whose stream ended before `[DONE]` counts as failed, its tokens that arrived still count). Each server runs in its own process (MaaS " +
            $"with server GC, as `Maas.Server` runs); the load generator shares the cores with both. Server CPU ms/token: the server process's CPU time (all threads, ggml's " +
            $"spinning workers included) over the tokens it generated."));
        s.AppendLine();
        s.AppendLine("| scenario | streams | server | tokens/s | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms | server CPU ms/token | requests | failed |");
        s.AppendLine("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var r in results)
        {
            s.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| {r.Scenario} | {r.Concurrency} | {r.Server} | {r.TokensPerSecond:F1} | {r.TtftP50:F0} | {r.TtftP99:F0} " +
                $"| {r.ItlP50:F1} | {r.ItlP99:F1} | {r.CpuMsPerToken:F1} | {r.Samples.Count} | {r.Failed} |"));
        }

        s.AppendLine();
        s.AppendLine("Targets: MaaS at least 1.0x llama-server's tokens/s at every concurrency; at most 0.5x its p50 TTFT with the shared prompt, on multi-turn conversations " +
            "and on recurring identical prompts.");
        s.AppendLine();
        foreach (var group in results.GroupBy(r => (r.Scenario, r.Concurrency)))
        {
            var llama = group.FirstOrDefault(r => r.Server == "llama-server");
            foreach (var maas in group.Where(r => r.Server.StartsWith("MaaS", StringComparison.Ordinal)))
            {
                if (llama is not null)
                {
                    s.AppendLine(RatioLine(group.Key.Scenario, group.Key.Concurrency, maas, llama));
                }
            }
        }


        s.AppendLine();
        s.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"Notes: the machine is shared and noisy (1-minute load average {load}); the same server varies by 10-20% between rounds, so ratios near 1.0 are within noise. ")
            + "Both servers compute on persistent ggml thread pools with ggml's default polling, and both keep one KV buffer per slot (llama-server's "
            + "default; MaaS's `Maas:Llm:UnifiedKvCache=false`), so a token's attention walks only its own slot's cells. MaaS's slot planner "
            + "(`KvSlotPlanner`) weighs each idle slot in prompt-token equivalents: the prompt tokens left to compute, 32 for a copy of another slot's "
            + "per-slot buffer, 16 for a restore from the host prompt cache, the tokens of another conversation the slot would lose (none for the slot's "
            + "own last prompt, none for the least recently used slot once no slot is empty), and 2 per step over the request's `max_tokens` (at most "
            + "256) for a slot apart from the running ones, because llama.cpp decodes per-slot buffers in one pass only for a run of consecutive "
            + "sequence ids; each batch is ordered by slot. llama-server picks slots by prompt similarity or least recent use, so its running slots "
            + "scatter at 8 streams. "
            + "A prefix cached in another slot (the shared system prompt) is copied buffer to buffer into the new request's slot and cut to the shared "
            + "part, where llama-server recomputes it or restores it from its host-memory prompt cache. Unlike llama-server, which lets every waiting prompt "
            + "into the next step (`--compare PromptAdmission=batched` runs a MaaS that does the same), MaaS staggers prompts by default "
            + "(`Maas:Llm:PromptAdmission=auto`, `PromptStepPlanner`, token-budgeted as vLLM's chunked prefill): prompts join a step fewest tokens left first until it "
            + "holds `Maas:Llm:PromptChunkTokens` (64) prompt tokens, a budget more for every `PromptBurstPrompts` (2) cold prompts (less than half cached) " +
                "waiting beyond the first 2, "
            + "the last one chunked when at least 32 of it fit (a prompt passed over 8 steps in a "
            + "row goes first), so a conversation turn gets its first token after one short step of its own rather than behind every prompt that "
            + "arrived with it, while a burst of cold chats goes a few to a step. MaaS loads node-llama-cpp's prebuilt CPU backend (the best x86-64 variant ggml " +
                "picks at run time) while "
            + "llama-server is compiled for this CPU (`GGML_NATIVE`). With `--compare-kv` (short for `--compare UnifiedKvCache=true`) a second MaaS with the unified KV cache " +
                "runs alongside: it shares "
            + "a prefix across slots without copies and reads shared cells once per step (ahead with the shared prompt), but every token's attention "
            + "walks the cells of all slots (behind at 1 stream).");
        s.AppendLine();
        s.AppendLine("<details><summary>MaaS engine statistics after the run (GET /api/v1/llm/engines)</summary>");
        s.AppendLine();
        s.AppendLine("```json");
        s.AppendLine(engineStats);
        s.AppendLine("```");
        s.AppendLine();
        s.AppendLine("</details>");
        s.AppendLine(End);
        return s.ToString();
    }

    public static void WriteSection(string path, string section)
    {
        var text = File.Exists(path) ? File.ReadAllText(path) : "# Benchmarks\n\nEach benchmark writes its own section below; rerun one to refresh its section.\n";
        var start = text.IndexOf(Start, StringComparison.Ordinal);
        var end = text.IndexOf(End, StringComparison.Ordinal);
        text = start >= 0 && end > start
            ? string.Concat(text.AsSpan(0, start), section.TrimEnd('\n'), text.AsSpan(end + End.Length))
            : text.TrimEnd('\n') + "\n\n" + section;
        File.WriteAllText(path, text);
    }

    private static string RatioLine(string scenario, int concurrency, ScenarioResult maas, ScenarioResult llama)
    {
        var ratio = maas.TokensPerSecond / llama.TokensPerSecond;
        var label = maas.Server == "MaaS" ? "" : $" ({maas.Server})";
        var line = string.Create(CultureInfo.InvariantCulture, $"- {scenario} x{concurrency}{label}: tokens/s ratio {ratio:F2}x ({(ratio >= 1.0 ? "met" : "MISSED")})");
        var perRound = maas.RoundTokensPerSecond.Zip(llama.RoundTokensPerSecond, (m, l) => (m / l).ToString("F2", CultureInfo.InvariantCulture));
        line += string.Create(CultureInfo.InvariantCulture,
            $" (round by round: {string.Join(", ", perRound)}; server CPU per token {maas.CpuMsPerToken / llama.CpuMsPerToken:F2}x)");
        var ttft = maas.TtftP50 / llama.TtftP50;
        if (!(scenario.StartsWith("shared", StringComparison.Ordinal) || scenario is "multi-turn" or "recurring-identical-prompts"))
        {
            line += string.Create(CultureInfo.InvariantCulture, $"; p50 TTFT ratio {ttft:F2}x");
        }
        else
        {
            line += string.Create(CultureInfo.InvariantCulture, $"; p50 TTFT ratio {ttft:F2}x ({(ttft <= 0.5 ? "met" : "MISSED")})");
            var cached = maas.Samples.Where(x => x.CachedTokens >= 0).Select(x => (double)x.CachedTokens).DefaultIfEmpty(0).Average();
            line += string.Create(CultureInfo.InvariantCulture, $"; MaaS reported {cached:F0} cached prompt tokens per request on average");
            var llamaCached = llama.Samples.Where(x => x.CachedTokens >= 0).Select(x => (double)x.CachedTokens).DefaultIfEmpty(0).Average();
            line += string.Create(CultureInfo.InvariantCulture, $", llama-server {llamaCached:F0}");
            if (maas.Turns.Count > 0)
            {
                // Where the first token goes: the cold first turn, or later turns that extend a cached conversation.
                line += "; p50 TTFT ratio by turn: " + string.Join(", ", maas.Turns.Select(t => string.Create(CultureInfo.InvariantCulture,
                    $"{t}: {maas.TtftP50OfTurn(t) / llama.TtftP50OfTurn(t):F2}x ({maas.TtftP50OfTurn(t):F0} / {llama.TtftP50OfTurn(t):F0} ms)")));
            }
        }

        if (maas.Failed + llama.Failed > 0)
        {
            line += string.Create(CultureInfo.InvariantCulture, $"; FAILED requests: MaaS {maas.Failed}, llama-server {llama.Failed}");
        }

        return line;
    }
}
