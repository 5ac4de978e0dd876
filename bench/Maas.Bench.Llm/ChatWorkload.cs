using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Maas.Bench.Llm;

/// <summary>One streamed chat request as the client saw it.</summary>
/// <param name="TtftMs">Time from sending the request to the first content token.</param>
/// <param name="GapsMs">Times between consecutive content chunks (inter-token latency).</param>
/// <param name="Tokens">Completion tokens (from usage, else the number of content chunks).</param>
/// <param name="CachedTokens">Prompt tokens the server reports as cached (-1 when it does not say).</param>
/// <param name="Error">Why the request failed (an error status, a stream that ended early), or null when it completed.</param>
public sealed record RequestSample(double TtftMs, IReadOnlyList<double> GapsMs, int Tokens, int CachedTokens, string? Error = null)
{
    public bool Failed => Error is not null;

    /// <summary>The request's turn in its conversation (1 for the first), or 0 outside the multi-turn scenario.</summary>
    public int Turn { get; init; }
}

/// <summary>The outcome of one scenario on one server: one round, or several (tokens/s is then the median round's).</summary>
public sealed record ScenarioResult(string Server, string Scenario, int Concurrency, double WallSeconds, IReadOnlyList<RequestSample> Samples)
{
    private double? _tokensPerSecond;

    public int Tokens => Samples.Sum(s => s.Tokens);

    /// <summary>Requests that failed (counted in the table, left out of the latency percentiles).</summary>
    public int Failed => Samples.Count(s => s.Failed);

    // Latencies of completed requests only: a stream cut short has no meaningful last gaps, one that failed before
    // its first token no first-token time.
    private IEnumerable<RequestSample> Completed => Samples.Where(s => !s.Failed);

    public int Rounds { get; init; } = 1;

    /// <summary>Tokens/s of each round, in order (the servers took turns round by round).</summary>
    public IReadOnlyList<double> RoundTokensPerSecond { get; init; } = [];

    /// <summary>CPU time the server process used during the run (user and system), all its threads.</summary>
    public double CpuSeconds { get; init; }

    /// <summary>Server CPU per generated token: what each token costs the server, whatever else ran on the machine.</summary>
    public double CpuMsPerToken => Tokens == 0 ? 0 : CpuSeconds * 1000 / Tokens;

    public double TokensPerSecond => _tokensPerSecond ?? Tokens / WallSeconds;

    /// <summary>Rounds of one scenario on one server: the median round's tokens/s, latencies over every request.</summary>
    public static ScenarioResult Combine(IReadOnlyList<ScenarioResult> rounds) =>
        new(rounds[0].Server, rounds[0].Scenario, rounds[0].Concurrency, rounds.Sum(r => r.WallSeconds), rounds.SelectMany(r => r.Samples).ToList())
        {
            Rounds = rounds.Count,
            CpuSeconds = rounds.Sum(r => r.CpuSeconds),
            RoundTokensPerSecond = [.. rounds.Select(r => r.TokensPerSecond)],
            _tokensPerSecond = Percentile(rounds.Select(r => r.TokensPerSecond), 0.5),
        };

    public double TtftP50 => Percentile(Completed.Select(s => s.TtftMs), 0.50);

    /// <summary>The turns of the multi-turn scenario, first to last (empty elsewhere).</summary>
    public IReadOnlyList<int> Turns => [.. Samples.Select(s => s.Turn).Where(t => t > 0).Distinct().Order()];

    /// <summary>TTFT p50 of the requests of one conversation turn: the first turn's prompts are cold, later ones extend a cached conversation.</summary>
    public double TtftP50OfTurn(int turn) => Percentile(Completed.Where(s => s.Turn == turn).Select(s => s.TtftMs), 0.50);

    /// <summary>Cached prompt tokens the server reported per request of one turn, on average.</summary>
    public double CachedOfTurn(int turn) => Samples.Where(s => s.Turn == turn && s.CachedTokens >= 0).Select(s => (double)s.CachedTokens).DefaultIfEmpty(0).Average();

    public double TtftP99 => Percentile(Completed.Select(s => s.TtftMs), 0.99);

    public double ItlP50 => Percentile(Completed.SelectMany(s => s.GapsMs), 0.50);

    public double ItlP99 => Percentile(Completed.SelectMany(s => s.GapsMs), 0.99);

    public static double Percentile(IEnumerable<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        var rank = p * (sorted.Length - 1);
        var lo = (int)Math.Floor(rank);
        var hi = (int)Math.Ceiling(rank);
        return sorted[lo] + ((sorted[hi] - sorted[lo]) * (rank - lo));
    }
}

/// <summary>Replays a streamed chat workload against any OpenAI-compatible server (MaaS or llama-server).</summary>
public sealed class ChatWorkload(HttpClient http, string baseUrl, string model, int maxTokens)
{
    /// <summary>Runs <paramref name="requests"/> chats over <paramref name="concurrency"/> parallel streams.</summary>
    public async Task<ScenarioResult> RunAsync(string server, string scenario, int concurrency, int requests, string? systemPrompt, int seedOffset)
    {
        var samples = new RequestSample[requests];
        var next = -1;
        var clock = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, concurrency).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < requests)
            {
                samples[i] = await OneAsync(systemPrompt, UserPrompt(seedOffset + i));
            }
        });
        await Task.WhenAll(workers);
        return new ScenarioResult(server, scenario, concurrency, clock.Elapsed.TotalSeconds, samples);
    }

    /// <summary>
    /// Multi-turn chats: <paramref name="conversations"/> conversations (one system prompt shared by all, as a chat
    /// product has), each of <paramref name="turns"/> turns; every turn resends the conversation so far, the previous
    /// answer included, plus a new user message. Each of the <paramref name="concurrency"/> streams takes its share of
    /// the conversations in turn, so every conversation comes back after the others had a turn.
    /// </summary>
    public async Task<ScenarioResult> RunConversationsAsync(string server, string scenario, int concurrency, int conversations, int turns, string systemPrompt, int seedOffset)
    {
        var samples = new RequestSample[conversations * turns];
        var clock = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, concurrency).Select(async w =>
        {
            var mine = Enumerable.Range(0, conversations).Where(c => c % concurrency == w).ToArray();
            var histories = mine.ToDictionary(c => c, _ => new List<object> { new { role = "system", content = systemPrompt } });
            for (var turn = 0; turn < turns; turn++)
            {
                foreach (var c in mine)
                {
                    var history = histories[c];
                    history.Add(new { role = "user", content = UserPrompt(seedOffset + (c * turns) + turn) });
                    var (sample, answer) = await OneAsync(history);
                    history.Add(new { role = "assistant", content = answer });
                    samples[(turn * conversations) + c] = sample with { Turn = turn + 1 };
                }
            }
        });
        await Task.WhenAll(workers);
        return new ScenarioResult(server, scenario, concurrency, clock.Elapsed.TotalSeconds, samples);
    }

    /// <summary>Requests whose prompts recur word for word: request i sends prompt i mod <paramref name="distinct"/>.</summary>
    public async Task<ScenarioResult> RunRecurringAsync(string server, string scenario, int concurrency, int requests, int distinct, int words)
    {
        var prompts = Enumerable.Range(0, distinct).Select(d => $"Document {d}: {SystemPrompt(words, (uint)(d + 1))}\n\nSummarise document {d}.").ToArray();
        var samples = new RequestSample[requests];
        var next = -1;
        var clock = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, concurrency).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < requests)
            {
                samples[i] = (await OneAsync([new { role = "user", content = prompts[i % distinct] }])).Sample;
            }
        });
        await Task.WhenAll(workers);
        return new ScenarioResult(server, scenario, concurrency, clock.Elapsed.TotalSeconds, samples);
    }

    /// <summary>A short, distinct user turn per request.</summary>
    public static string UserPrompt(int i) => $"Request {i}: write a short note about topic number {i * 7919 % 1000} and why it matters.";

    /// <summary>A deterministic system prompt of about <paramref name="words"/> words.</summary>
    public static string SystemPrompt(int words, uint seed = 12345u)
    {
        string[] vocabulary =
        [
            "the", "service", "answers", "questions", "about", "models", "with", "care", "and", "precision", "every", "reply",
            "should", "be", "short", "clear", "polite", "helpful", "accurate", "when", "unsure", "say", "so", "never", "invent",
            "facts", "cite", "sources", "where", "possible", "prefer", "simple", "words", "explain", "steps", "one", "by",
        ];
        var text = new StringBuilder("You are a helpful assistant. ");
        var state = seed;
        for (var i = 0; i < words; i++)
        {
            state = (state * 1664525u) + 1013904223u;
            text.Append(vocabulary[(int)(state >> 16) % vocabulary.Length]).Append(i % 12 == 11 ? ". " : " ");
        }

        return text.ToString().TrimEnd();
    }

    private async Task<RequestSample> OneAsync(string? systemPrompt, string userPrompt)
    {
        var messages = new List<object>();
        if (systemPrompt is not null)
        {
            messages.Add(new { role = "system", content = systemPrompt });
        }

        messages.Add(new { role = "user", content = userPrompt });
        return (await OneAsync(messages)).Sample;
    }

    // One streamed chat request: what the client saw, and the answer's text.
    private async Task<(RequestSample Sample, string Text)> OneAsync(IReadOnlyList<object> messages)
    {
        var body = JsonSerializer.Serialize(new
        {
            model,
            messages,
            stream = true,
            stream_options = new { include_usage = true },
            max_tokens = maxTokens,
            temperature = 0,
            ignore_eos = true,
        });
        long sent = 0;
        HttpResponseMessage? response = null;
        for (var attempt = 0; response is null; attempt++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, baseUrl + "/v1/chat/completions")
            {
                Content = new StringContent(body, Encoding.UTF8, "application/json"),
            };
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
            sent = Stopwatch.GetTimestamp();
            try
            {
                response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            }
            catch (HttpRequestException) when (attempt < 3)
            {
                // A keep-alive connection the server closed as we reused it (cpp-httplib does after 5 s idle or
                // 100 requests): nothing was processed, so send it again on a fresh connection.
            }
            catch (Exception e) when (e is HttpRequestException or IOException)
            {
                return (new RequestSample(double.NaN, [], 0, -1, $"send: {e.Message}"), "");
            }
        }

        using var _ = response;
        if (!response.IsSuccessStatusCode)
        {
            var error = await response.Content.ReadAsStringAsync();
            return (new RequestSample(double.NaN, [], 0, -1, $"{(int)response.StatusCode} {error[..Math.Min(error.Length, 200)]}"), "");
        }

        double ttft = double.NaN;
        long last = 0;
        var gaps = new List<double>();
        var chunks = 0;
        var text = new StringBuilder();
        int? usageTokens = null;
        var cached = -1;
        var done = false;
        string? failure = null;
        try
        {
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            while (await reader.ReadLineAsync() is { } line)
            {
                if (!line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    continue;
                }

                var data = line.AsSpan(6);
                if (data.SequenceEqual("[DONE]"))
                {
                    done = true;
                    break;
                }

                var now = Stopwatch.GetTimestamp();
                using var chunk = JsonDocument.Parse(line[6..]);
                var root = chunk.RootElement;
                if (root.TryGetProperty("error", out var streamedError))
                {
                    failure = "streamed error: " + streamedError.ToString();
                    break;
                }

                if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
                {
                    usageTokens = usage.GetProperty("completion_tokens").GetInt32();
                    if (usage.TryGetProperty("prompt_tokens_details", out var details) && details.ValueKind == JsonValueKind.Object
                        && details.TryGetProperty("cached_tokens", out var c))
                    {
                        cached = c.GetInt32();
                    }
                }

                if (root.TryGetProperty("choices", out var choices) && choices.GetArrayLength() > 0
                    && choices[0].TryGetProperty("delta", out var delta) && delta.TryGetProperty("content", out var content)
                    && content.ValueKind == JsonValueKind.String && content.GetString()!.Length > 0)
                {
                    chunks++;
                    text.Append(content.GetString());
                    if (double.IsNaN(ttft))
                    {
                        ttft = Stopwatch.GetElapsedTime(sent, now).TotalMilliseconds;
                    }
                    else
                    {
                        gaps.Add(Stopwatch.GetElapsedTime(last, now).TotalMilliseconds);
                    }

                    last = now;
                }
            }
        }
        catch (Exception e) when (e is HttpRequestException or IOException or JsonException)
        {
            // The server closed the stream mid-answer (llama-server did once under load): a failed request, counted,
            // and the run goes on.
            failure = $"stream: {e.Message}";
        }

        if (failure is null && !done)
        {
            failure = "stream ended before [DONE]";
        }

        // A failed request still counts the tokens that reached the client.
        var tokens = failure is null ? usageTokens ?? chunks : chunks;
        return (new RequestSample(ttft, gaps, tokens, cached, failure), text.ToString());
    }
}
