using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Maas.Cli.Hosting;
using Maas.Client;
using Maas.Client.Chat;
using Maas.Client.Inference;
using Spectre.Console;

namespace Maas.Cli.Commands;

/// <summary>
/// <c>maas bench MODEL</c>: concurrent load on a model (OIP v2 infer for ONNX, streamed chat for GGUF) with a live
/// progress display, then a latency table (percentiles over every request).
/// </summary>
public static class BenchCommand
{
    /// <summary>What a benchmark measured.</summary>
    public sealed record BenchResult(
        string Model, string Kind, int Requests, int Concurrency, int Succeeded, int Failed, double Seconds, double RequestsPerSecond,
        double MeanMs, double P50Ms, double P90Ms, double P99Ms, double MaxMs, long Tokens, double TokensPerSecond, IReadOnlyDictionary<string, int> Errors);

    /// <summary>The <c>bench</c> command.</summary>
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "Model reference" };
        var requests = new Option<int>("--requests", "-n") { Description = "Requests in all", DefaultValueFactory = _ => 100 };
        var concurrency = new Option<int>("--concurrency", "-c") { Description = "Requests in flight at once", DefaultValueFactory = _ => 4 };
        var input = new Option<string?>("--input") { Description = "A v2 request JSON for ONNX models (default: zeros shaped by the model, batch 1)" };
        var prompt = new Option<string>("--prompt") { Description = "Prompt for LLMs", DefaultValueFactory = _ => "Hello" };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Tokens per LLM answer", DefaultValueFactory = _ => 16 }.Between(1, int.MaxValue);
        var command = new Command("bench", "Concurrent load on a model with a live progress display and a latency table") { model, requests, concurrency, input, prompt,
            maxTokens };
        command.SetAction(async (parse, client, ct) =>
        {
            var reference = parse.GetValue(model)!;
            var total = parse.GetValue(requests);
            var parallel = parse.GetValue(concurrency);
            if (total < 1 || parallel < 1)
            {
                throw new CliException("invalid_option", "--requests and --concurrency must be at least 1", ExitCodes.Usage);
            }

            var resolved = await client.ResolveAsync(reference, ct);
            var isLlm = resolved.Version.Format == "gguf";
            Func<CancellationToken, Task<long>> call;
            if (isLlm)
            {
                // every answer the same length, so runs compare
                var request = new ChatRequest(reference, [new ChatMessage("user", parse.GetValue(prompt)!)]) { MaxTokens = parse.GetValue(maxTokens), IgnoreEos = true };
                call = async token =>
                {
                    long tokens = 0;
                    await foreach (var delta in client.StreamChatAsync(request, token))
                    {
                        tokens = delta.Usage?.CompletionTokens ?? tokens;
                    }

                    return tokens;
                };
            }
            else
            {
                var request = parse.GetValue(input) is { } json ? InputRequest(json) : Zeros(await client.GetModelMetadataAsync(reference, ct));
                call = async token =>
                {
                    await client.InferAsync(reference, request, token);
                    return 0;
                };
            }

            var (result, firstError) = await ProgressDisplay.RunAsync(parse, $"bench {reference} ({total} requests, {parallel} at once)", total, bytes: false, progress =>
                RunAsync(reference, isLlm ? "chat" : "infer", total, parallel, call, progress, ct));
            CliHost.Print(parse, result, Print);
            // A run in which nothing succeeded measured nothing: a script must not take its figures for a result.
            return result.Succeeded == 0 && firstError is not null
                ? CliHost.Fail(firstError.Code, $"every request failed ({result.Failed} of {result.Requests}); the first: {firstError.Message}", CliHost.ExitCodeFor(firstError))
                : ExitCodes.Ok;
        });
        return command;
    }

    private static async Task<(BenchResult Result, MaasApiException? FirstError)> RunAsync(string model, string kind, int total, int parallel,
        Func<CancellationToken, Task<long>> call, IProgress<long> progress, CancellationToken ct)
    {
        var latencies = new List<double>(total);
        var errors = new Dictionary<string, int>(StringComparer.Ordinal);
        long tokens = 0;
        MaasApiException? firstError = null;
        var next = 0;
        var done = 0;
        var clock = Stopwatch.StartNew();
        async Task Worker()
        {
            while (Interlocked.Increment(ref next) <= total)
            {
                var started = Stopwatch.GetTimestamp();
                try
                {
                    var used = await call(ct);
                    var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                    lock (latencies)
                    {
                        latencies.Add(elapsed);
                        tokens += used;
                    }
                }
                catch (MaasApiException e)
                {
                    lock (latencies)
                    {
                        errors[e.Code] = errors.GetValueOrDefault(e.Code) + 1;
                        firstError ??= e;
                    }
                }

                progress.Report(Interlocked.Increment(ref done));
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Math.Min(parallel, total)).Select(_ => Task.Run(Worker, ct)));
        var seconds = clock.Elapsed.TotalSeconds;
        latencies.Sort();
        double Percentile(double p) => latencies.Count == 0 ? 0 : latencies[Math.Clamp((int)Math.Ceiling(p * latencies.Count) - 1, 0, latencies.Count - 1)];
        var result = new BenchResult(
            model, kind, total, parallel, latencies.Count, total - latencies.Count, Math.Round(seconds, 3), Math.Round(total / seconds, 2),
            Math.Round(latencies.Count == 0 ? 0 : latencies.Average(), 3), Math.Round(Percentile(0.5), 3), Math.Round(Percentile(0.9), 3), Math.Round(Percentile(0.99), 3),
            Math.Round(latencies.Count == 0 ? 0 : latencies[^1], 3), tokens, Math.Round(tokens / seconds, 2), errors);
        return (result, firstError);
    }

    // --input: a whole v2 request.
    private static InferRequest InputRequest(string json)
    {
        try
        {
            return System.Text.Json.JsonSerializer.Deserialize<InferRequest>(json, MaasJson.Options) ??
                throw new CliException("invalid_json", "--input is null, not a v2 request", ExitCodes.Usage);
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new CliException("invalid_json", $"--input is not a v2 request as JSON ({{\"inputs\": [...]}}): {e.Message}", ExitCodes.Usage);
        }
    }

    /// <summary>A batch-of-one request of zeros for every input, dynamic dimensions taken as 1.</summary>
    public static InferRequest Zeros(ModelMetadata metadata) =>
        new([.. metadata.Inputs.Select(i =>
        {
            var shape = i.Shape.Select(d => d <= 0 ? 1 : d).ToArray();
            var count = shape.Aggregate(1L, (a, b) => a * b);
            var data = new JsonArray();
            for (var k = 0; k < count; k++)
            {
                data.Add(i.Datatype == "BYTES" ? JsonValue.Create("") : i.Datatype == "BOOL" ? JsonValue.Create(false) : JsonValue.Create(0));
            }

            return new InferTensor(i.Name, i.Datatype, shape, data);
        })]);

    private static void Print(BenchResult r)
    {
        var table = CliHost.Table("REQUESTS", "OK", "FAILED", "SECONDS", "REQ/S", "MEAN MS", "P50 MS", "P90 MS", "P99 MS", "MAX MS");
        table.Row(r.Requests, r.Succeeded, r.Failed, r.Seconds, r.RequestsPerSecond, r.MeanMs, r.P50Ms, r.P90Ms, r.P99Ms, r.MaxMs);
        AnsiConsole.Write(table);
        if (r.Kind == "chat")
        {
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{r.Tokens} tokens generated, {r.TokensPerSecond} tokens/s"));
        }

        foreach (var (code, count) in r.Errors)
        {
            Console.Out.WriteLine($"{count} x {code}");
        }
    }
}
