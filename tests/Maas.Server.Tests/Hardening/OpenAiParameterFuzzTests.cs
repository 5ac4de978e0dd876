using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Xunit.Abstractions;

namespace Maas.Server.Tests.Hardening;

/// <summary>
/// Random (seeded, reproducible) combinations of every OpenAI parameter the server takes, valid, odd and invalid,
/// against a generated model in a child server process: the process lives, nothing answers 5xx (503 with
/// Retry-After aside), and every 200 is well formed, streamed or not.
/// </summary>
/// <remarks>Set MAAS_FUZZ_SEED to replay a run; the failures name the seed and each failing body.</remarks>
[Collection(LlmServerProcessCollection.Name)]
public sealed class OpenAiParameterFuzzTests(LlmServerProcess fixture, ITestOutputHelper output)
{
    private const int Requests = 300;
    private const int Parallel = 3;

    [Fact]
    public async Task Random_parameter_combinations_never_crash_never_5xx_and_every_200_is_well_formed()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("MAAS_FUZZ_SEED"), CultureInfo.InvariantCulture, out var s) ? s : 20261203;
        output.WriteLine($"seed {seed}");
        var random = new Random(seed);
        var cases = Enumerable.Range(0, Requests).Select(_ => FuzzCase.Next(random, fixture.EndTokens)).ToList();
        var failures = new List<string>();
        var statuses = new Dictionary<int, int>();
        var next = -1;

        async Task Worker()
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < cases.Count)
            {
                var c = cases[i];
                var problem = await RunAsync(c);
                lock (failures)
                {
                    statuses[problem.Status] = statuses.GetValueOrDefault(problem.Status) + 1;
                    if (problem.Message is not null)
                    {
                        failures.Add($"#{i} {c.Path} {problem.Message}\n  body: {c.Body}");
                    }
                }

                if (!fixture.Server.IsRunning)
                {
                    return;
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Parallel).Select(_ => Worker()));
        output.WriteLine(string.Join(", ", statuses.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}: {kv.Value}")));
        Assert.True(fixture.Server.IsRunning, $"seed {seed}: the server process died:\n{fixture.Server.RecentOutput}\n{string.Join("\n", failures.Take(5))}");
        Assert.True(failures.Count == 0, $"seed {seed}: {failures.Count} of {Requests} requests failed:\n{string.Join("\n", failures.Take(10))}");

        // Some of them must have been served: a fuzz that only ever meets 400s tests the parser alone.
        Assert.True(statuses.GetValueOrDefault(200) >= Requests / 5, $"only {statuses.GetValueOrDefault(200)} answers were 200");
    }

    private async Task<(int Status, string? Message)> RunAsync(FuzzCase c)
    {
        HttpResponseMessage response;
        try
        {
            response = await fixture.Server.Client.PostAsync(c.Path, new StringContent(c.Body, Encoding.UTF8, "application/json"));
        }
        catch (HttpRequestException ex)
        {
            return (0, $"no answer: {ex.Message}");
        }

        using (response)
        {
            var status = (int)response.StatusCode;
            var text = await response.Content.ReadAsStringAsync();
            if (status >= 500 && !(status == 503 && response.Headers.RetryAfter is not null))
            {
                return (status, $"{status}: {text}");
            }

            if (status != 200)
            {
                return (status, ErrorProblem(text));
            }

            try
            {
                return (status, c.Stream ? StreamProblem(text, c) : BodyProblem(text, c));
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException or KeyNotFoundException)
            {
                return (status, $"malformed 200 ({ex.Message}): {text}");
            }
        }
    }

    private static string? ErrorProblem(string text)
    {
        try
        {
            var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
            return error.GetProperty("message").ValueKind == JsonValueKind.String && error.GetProperty("type").ValueKind == JsonValueKind.String
                ? null
                : $"error without message and type: {text}";
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or KeyNotFoundException)
        {
            return $"error not in OpenAI's format: {text}";
        }
    }

    private static readonly string[] Finishes = ["stop", "length", "tool_calls"];

    private static string? BodyProblem(string text, FuzzCase c)
    {
        var root = JsonDocument.Parse(text).RootElement;
        var choices = root.GetProperty("choices");
        if (root.GetProperty("object").GetString() != (c.Chat ? "chat.completion" : "text_completion"))
        {
            return $"wrong object: {text}";
        }

        if (choices.GetArrayLength() != c.Choices)
        {
            return $"{choices.GetArrayLength()} choices, expected {c.Choices}: {text}";
        }

        var i = 0;
        foreach (var choice in choices.EnumerateArray())
        {
            if (choice.GetProperty("index").GetInt32() != i++ || !Finishes.Contains(choice.GetProperty("finish_reason").GetString()))
            {
                return $"bad choice index or finish_reason: {text}";
            }

            if (c.Chat)
            {
                var message = choice.GetProperty("message");
                var content = message.GetProperty("content");
                if (message.GetProperty("role").GetString() != "assistant"
                    || !(content.ValueKind == JsonValueKind.String || (content.ValueKind == JsonValueKind.Null && message.GetProperty("tool_calls").GetArrayLength() > 0)))
                {
                    return $"bad message: {text}";
                }
            }
            else if (choice.GetProperty("text").ValueKind != JsonValueKind.String)
            {
                return $"bad text: {text}";
            }
        }

        var usage = root.GetProperty("usage");
        return usage.GetProperty("total_tokens").GetInt32() == usage.GetProperty("prompt_tokens").GetInt32() + usage.GetProperty("completion_tokens").GetInt32()
            ? null
            : $"usage does not add up: {text}";
    }

    private static string? StreamProblem(string text, FuzzCase c)
    {
        var finished = new int[c.Choices];
        var done = false;
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0)
            {
                continue;
            }

            if (!line.StartsWith("data: ", StringComparison.Ordinal) || done)
            {
                return $"bad SSE line '{line}' (after [DONE]: {done})";
            }

            if (line == "data: [DONE]")
            {
                done = true;
                continue;
            }

            var chunk = JsonDocument.Parse(line[6..]).RootElement;
            if (chunk.TryGetProperty("error", out var error))
            {
                // A caller's mistake found mid-stream may end it; the server's own failure may not.
                if (error.GetProperty("type").GetString() != "invalid_request_error")
                {
                    return $"error event: {line}";
                }

                return null;
            }

            if (chunk.GetProperty("object").GetString() != (c.Chat ? "chat.completion.chunk" : "text_completion"))
            {
                return $"wrong chunk object: {line}";
            }

            foreach (var choice in chunk.GetProperty("choices").EnumerateArray())
            {
                var index = choice.GetProperty("index").GetInt32();
                if (index < 0 || index >= c.Choices)
                {
                    return $"choice index {index} of {c.Choices}: {line}";
                }

                if (choice.GetProperty("finish_reason").ValueKind == JsonValueKind.String)
                {
                    finished[index]++;
                    if (!Finishes.Contains(choice.GetProperty("finish_reason").GetString()))
                    {
                        return $"bad finish_reason: {line}";
                    }
                }
            }
        }

        return !done ? "the stream did not end with [DONE]"
            : finished.Any(f => f != 1) ? $"finish_reason counts per choice: {string.Join(",", finished)}"
            : null;
    }

    /// <summary>One generated request: where it goes, its body and what a 200 must hold.</summary>
    private sealed record FuzzCase(string Path, string Body, bool Chat, bool Stream, int Choices)
    {
        // Content that tokenizers, templates and JSON readers find awkward, as JSON string literals.
        private static readonly string[] Texts =
        [
            "\"hello\"", "\"\"", "\"a\\u0000b\"", "\"\\ud800\"", "\"x\\udc00y\"", "\"\\ud83d\\ude00 emoji\"", "\"<|im_start|>system\\nhi<|im_end|>\"",
            "\"</s><s>[INST]\"", "\"\\u202eright-to-left\"", "\"e\\u0301\\u0301\\u0301\"", "\"\\uffff\\ufffe\"", "\"tab\\tnew\\nline\"",
            "\"" + string.Concat(Enumerable.Repeat("long ", 60)) + "\"",
        ];

        private static readonly string[] Formats =
        [
            """{"type":"text"}""", """{"type":"json_object"}""",
            """{"type":"json_schema","json_schema":{"name":"a","schema":{"enum":["yes","no"]}}}""",
            """{"type":"json_schema","json_schema":{"name":"o","schema":{"type":"object","properties":{"b":{"type":"boolean"}},"required":["b"],"additionalProperties":false}}}""",
            """{"type":"json_schema","json_schema":{"name":"p","schema":{"type":"string","pattern":"^a$"}}}""",
            """{"type":"xml"}""", "\"json\"", "7", "null",
        ];

        private static readonly string[] Tools =
        [
            """[{"type":"function","function":{"name":"pick","parameters":{"type":"object","properties":{"c":{"enum":["a","b"]}},"required":["c"],"additionalProperties":""" +
            """false}}}]""",
            """[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"g","description":"\u0000"}}]""",
            """[{"type":"function","function":{"name":"bad name"}}]""", "{}", "null",
        ];

        private static readonly string[] ToolChoices =
        [
            "\"auto\"", "\"none\"", "\"required\"", """{"type":"function","function":{"name":"pick"}}""", """{"type":"function","function":{"name":"nope"}}""", "\"sometimes\"",
            "3",
        ];

        public static FuzzCase Next(Random random, IReadOnlyList<int> endTokens)
        {
            T Pick<T>(params T[] values) => values[random.Next(values.Length)];
            bool Maybe(double p = 0.5) => random.NextDouble() < p;
            string Number(params double[] values) => Pick(values).ToString("R", CultureInfo.InvariantCulture);

            // Mostly valid values, so that most requests get as far as the engine; now and then an invalid one.
            string Choose(string[] valid, string[] invalid) => Maybe(0.93) ? Pick(valid) : Pick(invalid);

            var chat = Maybe(0.6);
            var fields = new List<string> { "\"model\":" + (Maybe(0.97) ? "\"gen\"" : Pick("\"missing\"", "5", "\"\"", "\"g\\u0000en\"")) };
            void Add(string name, string json) => fields.Add($"\"{name}\":{json}");

            var stream = false;
            if (Maybe(0.4))
            {
                var value = Choose(["true", "false"], ["\"yes\"", "1"]);
                stream = value == "true";
                Add("stream", value);
                if (stream && Maybe(0.3))
                {
                    Add("stream_options", Choose(["""{"include_usage":true}""", """{"include_usage":false}"""], ["""{"include_usage":"x"}"""]));
                }
            }

            var n = 1;
            if (Maybe(0.3))
            {
                var value = Choose(["1", "2", "3"], ["0", "-1", "17", "\"2\"", "1.5"]);
                n = value is "2" or "3" ? int.Parse(value, CultureInfo.InvariantCulture) : 1;
                Add("n", value);
            }

            Add(Pick("max_tokens", chat ? "max_completion_tokens" : "max_tokens"), Choose(["1", "2", "4", "6", "8"], ["0", "-3", "100000", "\"8\"", "null"]));
            if (Maybe())
            {
                Add("temperature", Choose(["0", "0.2", "0.7", "1", "1.5", "2", "1e-30", "1e-7", "null"], ["-1", "2.5", "\"hot\"", "1e400"]));
            }

            if (Maybe(0.3))
            {
                Add("ignore_eos", Choose(["true", "false"], ["\"x\""]));
            }

            if (Maybe(0.35))
            {
                Add("logit_bias", Choose(
                    ["{" + string.Join(",", endTokens.Select(t => $"\"{t}\":-100")) + "}",
                        $"{{\"{random.Next(2048)}\":{Number(-100, -50, 0, 5, 100)}, \"{random.Next(2048)}\":100}}", "{}"],
                    ["{\"abc\":1}", "{\"99999999\":1}", "{\"5\":101}", "{\"-1\":5}", "{\"7\":\"x\"}", "{\"5\":1e400}", "[]"]));
            }

            if (Maybe(0.35))
            {
                Add("response_format", Choose(Formats[..4], Formats[4..]));
            }

            if (chat && Maybe(0.25))
            {
                Add("tools", Choose(Tools[..2], Tools[2..]));
                if (Maybe(0.7))
                {
                    Add("tool_choice", Choose(ToolChoices[..4], ToolChoices[4..]));
                }

                if (Maybe(0.3))
                {
                    Add("parallel_tool_calls", Pick("true", "false"));
                }
            }

            if (Maybe(0.3))
            {
                Add("stop", Choose(
                    ["\"e\"", "[\"a\",\"b\"]", "null", "\"\"", Pick(Texts)],
                    ["[1]", "[" + string.Join(",", Enumerable.Range(0, 17).Select(i => $"\"s{i}\"")) + "]"]));
            }

            if (Maybe(0.3))
            {
                if (chat)
                {
                    Add("logprobs", Choose(["true", "false"], ["1"]));
                    if (Maybe())
                    {
                        Add("top_logprobs", Choose(["0", "3", "20"], ["21", "-1"]));
                    }
                }
                else
                {
                    Add("logprobs", Choose(["0", "2", "5"], ["6", "true"]));
                }
            }

            foreach (var (name, valid, invalid) in new (string, string[], string[])[]
            {
                ("presence_penalty", ["-2", "0.5", "2"], ["3"]),
                ("frequency_penalty", ["-2", "1", "2"], ["2.5"]),
                ("repeat_penalty", ["0", "1", "1.3", "10"], ["11"]),
                ("repeat_last_n", ["0", "64", "2000"], ["-1", "2000000"]),
                ("top_k", ["0", "1", "40", "5000"], ["-1"]),
                ("top_p", ["0", "0.5", "1"], ["1.5", "-1e309"]),
                ("min_p", ["0", "0.05", "1"], ["-0.1"]),
                ("seed", ["0", "42", "-1", "99999999999"], ["\"x\"", "1.5"]),
                ("user", ["\"u\"", "\"\\u0000\""], ["\"\\ud800\"", "5"]),
            })
            {
                if (Maybe(0.2))
                {
                    Add(name, Choose(valid, invalid));
                }
            }

            var choices = n;
            if (chat)
            {
                var messages = new List<string>();
                if (Maybe(0.3))
                {
                    messages.Add($"{{\"role\":\"{Pick("system", "developer")}\",\"content\":{Pick(Texts)}}}");
                }

                messages.Add($"{{\"role\":\"user\",\"content\":{Pick(Texts)}}}");
                if (Maybe(0.15))
                {
                    messages.Add(Pick(
                        """{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"pick","arguments":"{}"}}]}""",
                        """{"role":"tool","tool_call_id":"c1","content":"done"}""",
                        """{"role":"wizard","content":"x"}""",
                        """{"role":"user","content":[{"type":"text","text":"part"}]}""",
                        """{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}""",
                        """{"role":"user"}"""));
                }

                Add("messages", Maybe(0.98) ? "[" + string.Join(",", messages) + "]" : Pick("[]", "\"hi\"", "null"));
            }
            else
            {
                var prompts = 1;
                if (Maybe(0.2))
                {
                    prompts = 2;
                    Add("prompt", $"[{Pick(Texts)},{Pick(Texts)}]");
                }
                else
                {
                    var prompt = Maybe(0.8) ? Pick(Texts) : Pick("[1,2,3]", "[[5,6],[7]]", "[99999]", "[-1]", "[]", "[\"a\",[1]]", "{}");
                    prompts = prompt is "[[5,6],[7]]" or "[\"a\",[1]]" ? 2 : 1;
                    Add("prompt", prompt);
                }

                choices = n * prompts;
                if (Maybe(0.2))
                {
                    Add("echo", Pick("true", "false"));
                }

                if (Maybe(0.15))
                {
                    Add("best_of", Pick("1", "2", "3", "1.5"));
                }

                if (Maybe(0.05))
                {
                    Add("suffix", Pick("\"\"", "\"end\""));
                }
            }

            // Shuffled, so that no parameter always comes first.
            var shuffled = fields.OrderBy(_ => random.Next()).ToList();
            var body = "{" + string.Join(",", shuffled) + "}";
            if (Maybe(0.02))
            {
                body = Pick(body[..(body.Length / 2)], "[]", "\"x\"", body + "}", "{\"model\":\"gen\",\"model\":\"gen\"}");
            }

            return new FuzzCase(chat ? "/v1/chat/completions" : "/v1/completions", body, chat, stream, choices);
        }
    }
}
