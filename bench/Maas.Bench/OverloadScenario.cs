using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Maas.Bench;

/// <summary>
/// Overload: UltraFace over REST binary (900 KiB bodies) at the concurrency that saturates one instance, then at 5x
/// and 50x as many connections. Reports goodput (answered requests per second) against the unloaded throughput,
/// the latency of the admitted requests against the queue time budget, refusals, and the server's peak RSS.
/// </summary>
internal static class OverloadScenario
{
    private const int Threads = 2;
    private const int BudgetMs = 500;
    private const int LimitedConnectionsPerSecond = 20;
    private static readonly string LimitedLabel = $", at most {LimitedConnectionsPerSecond} new connections/s per address";

    public static async Task<ScenarioResult> RunAsync(BenchOptions options)
    {
        var path = Scenarios.SharedModel("ultraface-rfb-320.onnx", options);
        if (path is null)
        {
            return new ScenarioResult("overload", "skipped: ../shared/models/ultraface-rfb-320.onnx is not present", [], [], new Dictionary<string, double>(),
                "goodput >= 0.9x unloaded at 5x and 50x", false);
        }

        await using var server = await ServerProcess.StartAsync(options);
        await server.RegisterAsync("ultraface", File.ReadAllBytes(path), new { instance_count = 1, threads = Threads, queue_time_budget_ms = BudgetMs });
        var values = Enumerable.Range(0, 3 * 240 * 320).Select(i => ((i * 7919 % 255) - 127f) / 128f).ToArray();
        var raw = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, raw, 0, raw.Length);
        var json = Encoding.UTF8.GetBytes(
            $$$"""{"inputs":[{"name":"input","shape":[1,3,240,320],"datatype":"FP32","parameters":{"binary_data_size":{{{raw.Length}}}}}]""" +
            $$$""","parameters":{"binary_data_output":true}}""");
        var head = $"POST /v2/models/ultraface/infer HTTP/1.1\r\nHost: {server.Http.Authority}\r\nAuthorization: Bearer {ServerProcess.AdminKey}\r\n"
            + $"Content-Type: application/octet-stream\r\nInference-Header-Content-Length: {json.Length}\r\nContent-Length: {json.Length + raw.Length}\r\n";
        var request = new Request(Encoding.ASCII.GetBytes(head + "\r\n"), Encoding.ASCII.GetBytes(head + "Expect: 100-continue\r\n\r\n"), [.. json, .. raw]);
        var seconds = options.OverloadSeconds;
        var rssIdle = server.PeakRss(reset: true) / 1e6;

        // One client: the time of a single request, to judge the admitted latencies by. With one instance, 4 closed-loop
        // clients keep it busy (one request runs while the next ones are sent and queued); the table shows that more
        // clients add no throughput.
        var single = await RunStepAsync(server, request, "1 client", 1, Math.Max(3, seconds / 4), Client.RetryAfter);
        Console.WriteLine($"  {single}");
        const int saturating = 4;
        // Unloaded runs between the overload steps: each overload step is compared with the mean of the unloaded runs
        // just before and after it, so a drift of the shared machine's load hits both sides of a ratio alike.
        var plan = new (int Factor, Client Client)[] { (1, Client.RetryAfter), (5, Client.RetryAfter), (1, Client.RetryAfter), (50, Client.RetryAfter), (50,
            Client.ExpectContinue), (1, Client.RetryAfter), (100, Client.RetryAfter), (100, Client.AtOnce), (1, Client.RetryAfter) };
        var steps = new List<Step>();
        foreach (var (factor, client) in plan)
        {
            var label = client switch { Client.ExpectContinue => ", Expect: 100-continue", Client.AtOnce => ", clients retry at once", _ => "" };
            steps.Add(await RunStepAsync(server, request, factor == 1 ? "unloaded" : $"{factor}x{label}", saturating * factor, seconds, client));
            Console.WriteLine($"  {steps[^1]}");
        }

        // The retry-at-once load again, against a second server with a per-address rate of new connections (every
        // client shares 127.0.0.1 here, so the rate holds back the whole step): reconnects over it are refused before
        // their request is parsed.
        await using (var limited = await ServerProcess.StartAsync(options, null, [
            $"--Maas:Inference:HttpConnectionsPerSecondPerAddress={LimitedConnectionsPerSecond}",
            $"--Maas:Inference:HttpConnectionBurstPerAddress={LimitedConnectionsPerSecond}"]))
        {
            await limited.RegisterAsync("ultraface", File.ReadAllBytes(path), new { instance_count = 1, threads = Threads, queue_time_budget_ms = BudgetMs });
            foreach (var (factor, client) in new[] { (1, Client.RetryAfter), (100, Client.AtOnce), (1, Client.RetryAfter) })
            {
                var mode = factor == 1 ? "unloaded" : $"{factor}x, clients retry at once{LimitedLabel}";
                steps.Add(await RunStepAsync(limited, request, mode, saturating * factor, seconds, client));
                Console.WriteLine($"  {steps[^1]}");
            }
        }

        double Baseline(int i)
        {
            var before = steps.Take(i).Last(s => s.Mode == "unloaded");
            var after = steps.Skip(i + 1).First(s => s.Mode == "unloaded");
            return (before.PerSecond + after.PerSecond) / 2;
        }

        var unloadedRuns = steps.Where(s => s.Mode == "unloaded").ToList();
        var unloaded = unloadedRuns.Average(s => s.PerSecond);
        var numbers = new Dictionary<string, double>
        {
            ["unloaded_per_second"] = unloaded,
            ["saturating_clients"] = saturating,
            ["queue_time_budget_ms"] = BudgetMs,
            ["rss_idle_mb"] = rssIdle,
            ["unloaded_p99_ms"] = unloadedRuns.Max(s => s.P99Ms),
        };
        var ratios = new Dictionary<Step, double>();
        for (var i = 0; i < steps.Count; i++)
        {
            var s = steps[i];
            if (s.Mode == "unloaded")
            {
                continue;
            }

            ratios[s] = s.PerSecond / Math.Max(1e-9, Baseline(i));
            var key = s.Mode.Replace(LimitedLabel, "_connection_rate_limited", StringComparison.Ordinal)
                .Replace(", clients retry at once", "_retry_at_once", StringComparison.Ordinal).Replace(", Expect: 100-continue", "_expect_continue", StringComparison.Ordinal);
            numbers[$"server_queue_ms_{key}"] = s.QueueMs;
            numbers[$"goodput_ratio_{key}"] = ratios[s];
            numbers[$"admitted_p99_ms_{key}"] = s.P99Ms;
            if (s.Mode.Contains("retry at once", StringComparison.Ordinal) && s.Refused > 0)
            {
                // What a refusal costs the server: its CPU in the step less the answered calls at the unloaded runs' CPU
                // per call, over the refusals (readable only where refusals dominate, as here).
                var answered = s.PerSecond * s.Seconds;
                var unloadedCpuUs = unloadedRuns.Average(u => u.ServerCpuUsPerCall);
                numbers[$"server_cpu_ms_per_refusal_{key}"] = Math.Max(0, s.ServerCpuMs - (unloadedCpuUs * answered / 1000)) / s.Refused;
            }
        }

        var lines = new List<string>
        {
            "| step | connections | answered/s | goodput vs the unloaded runs before and after | admitted p50 ms | admitted p99 ms | server queue ms (mean) | refused/s | of " +
            "which dropped after the body was read | other failures | server CPU ms per answered call | server peak RSS MB |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        };
        lines.AddRange(steps.Select(s => string.Create(CultureInfo.InvariantCulture,
            $"| {s.Mode} | {s.Clients} | {s.PerSecond:0.0} | {(ratios.TryGetValue(s, out var r) ? $"{r:0.00}x" : "-")} | {s.P50Ms:0} | {s.P99Ms:0} | {s.QueueMs:0} | " +
            $"{s.RefusedPerSecond:0.0} | {s.Dropped} | {s.Failures} | {s.ServerCpuUsPerCall / 1000:0.0} | {s.PeakRssMb:0} |")));
        lines.Add("");
        lines.Add(string.Create(CultureInfo.InvariantCulture,
            $"A single client: {single.PerSecond:0.0}/s, p50 {single.P50Ms:0} ms, p99 {single.P99Ms:0} ms; server RSS when idle {rssIdle:0} MB."));
        numbers["single_request_p50_ms"] = single.P50Ms;
        var unloadedP99 = numbers["unloaded_p99_ms"];
        var met = ratios.Where(kv => kv.Key.Mode is "5x" or "50x").All(kv => kv.Value >= 0.9 && kv.Key.P99Ms <= BudgetMs);
        return new ScenarioResult(
            "overload",
            $"UltraFace RFB-320 (../shared/models), REST binary, 900 KiB bodies, 1 instance x {Threads} threads, queue_time_budget_ms = {BudgetMs}, default queue_limit (256), " +
            $"HTTP read-ahead {ReadAhead()}. "
            + $"Closed-loop clients on their own HTTP/1.1 connections; \"unloaded\" runs at the concurrency that saturates the instance ({saturating}), the overload steps at " +
                $"5x, 50x and 100x as many connections (100x = 400 connections, the load of the issue's measurement), with an unloaded run between them; then, against a second " +
                $"server with `Maas:Inference:HttpConnectionsPerSecondPerAddress` = {LimitedConnectionsPerSecond}, the retry-at-once step again between two unloaded runs. "
            + "A refused client (429) waits the Retry-After the server gives (1 s) and reconnects when the server closed the connection; \"retry at once\" clients do not wait. "
            + "Clients send headers and body in one go, except \"Expect: 100-continue\" ones, which send the body once the server asks for it (as curl does for bodies over 1 " +
                "MB), so a refused body is never sent. "
            + "Admitted latencies are those of answered (200) requests; peak RSS is the server process's resident memory sampled every 100 ms during the step.",
            [.. steps.Select(s => s.ToMeasurement())],
            [.. steps.Select(s => new ModeSummary(s.Mode, s.Clients, s.PerSecond, s.P50Ms, s.P99Ms, s.Refused + s.Failures, s.ServerCpuUsPerCall))],
            numbers,
            $"goodput at 5x and 50x overload >= 0.9x unloaded, admitted p99 within the queue time budget ({BudgetMs} ms, which covers reading the body, the queue and the run)",
            met)
        {
            Lines = lines,
        };
    }

    // The server's Maas:Inference:HttpReadAheadBytes: its default, or what the environment the server inherits sets.
    private static string ReadAhead() =>
        Environment.GetEnvironmentVariable("MAAS_Maas__Inference__HttpReadAheadBytes") is { Length: > 0 } set
            ? $"{set} bytes (set in the environment)"
            : "64 KiB (the default)";

    private static async Task<Step> RunStepAsync(ServerProcess server, Request request, string mode, int clients, double seconds, Client behaviour)
    {
        var warmUntil = Stopwatch.GetTimestamp() + (long)(Math.Min(2, seconds / 4) * Stopwatch.Frequency);
        var stopAt = warmUntil + (long)(seconds * Stopwatch.Frequency);
        var latencies = new List<long>[clients];
        var refused = new long[clients];
        var dropped = new long[clients];
        var failures = new long[clients];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(seconds + 120));
        var statsBefore = await server.StatsAsync("ultraface");
        server.PeakRss(reset: true);
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                server.PeakRss(reset: false);
                await Task.Delay(100, CancellationToken.None);
            }
        });
        var cpuBefore = TimeSpan.Zero;
        var cpuAt = Task.Run(async () =>
        {
            await Task.Delay(Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), warmUntil));
            cpuBefore = server.CpuTime();
        });
        var tasks = Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            var mine = latencies[c] = new List<long>(1024);
            var connection = new OverloadConnection(server.Http);
            try
            {
                while (Stopwatch.GetTimestamp() < stopAt)
                {
                    var start = Stopwatch.GetTimestamp();
                    var (status, retryAfter, closed) = await connection.CallAsync(request, behaviour == Client.ExpectContinue, cts.Token);
                    var end = Stopwatch.GetTimestamp();
                    var counted = start >= warmUntil && end <= stopAt;
                    if (status == 200)
                    {
                        if (counted)
                        {
                            mine.Add(end - start);
                        }

                        continue;
                    }

                    if (counted)
                    {
                        (status is 429 or 503 ? refused : failures)[c]++;
                        if (status == 429 && !closed)
                        {
                            dropped[c]++; // refused after its body was read: dropped from the queue past the budget
                        }
                    }

                    if (status is 429 or 503 && behaviour != Client.AtOnce)
                    {
                        await Task.Delay(TimeSpan.FromSeconds(Math.Max(1, retryAfter)), cts.Token);
                    }
                }
            }
            finally
            {
                connection.Dispose();
            }
        })).ToArray();
        await Task.WhenAll(tasks);
        await cpuAt;
        var cpu = server.CpuTime() - cpuBefore;
        var statsAfter = await server.StatsAsync("ultraface");
        double Queue(System.Text.Json.JsonElement stats, string what) => stats.GetProperty("inference_stats").GetProperty("queue").GetProperty(what).GetDouble();
        var queued = Queue(statsAfter, "count") - Queue(statsBefore, "count");
        var queueMs = queued == 0 ? 0 : (Queue(statsAfter, "ns") - Queue(statsBefore, "ns")) / queued / 1e6;
        await sampling.CancelAsync();
        await sampler;
        var all = latencies.SelectMany(l => l).Order().ToArray();
        var ms = 1000.0 / Stopwatch.Frequency;
        return new Step(
            mode,
            clients,
            seconds,
            all.Length / seconds,
            all.Length == 0 ? 0 : all[all.Length / 2] * ms,
            all.Length == 0 ? 0 : all[Math.Min(all.Length - 1, (int)(all.Length * 0.99))] * ms,
            refused.Sum(),
            dropped.Sum(),
            failures.Sum(),
            server.PeakRss(reset: false) / 1e6,
            all.Length == 0 ? 0 : cpu.TotalMicroseconds / all.Length,
            queueMs,
            cpu.TotalMilliseconds);
    }

    /// <summary>How a client sends and what it does after a refusal.</summary>
    private enum Client
    {
        /// <summary>Headers and body in one go; after a refusal, waits the Retry-After.</summary>
        RetryAfter,

        /// <summary>Headers with Expect: 100-continue, the body when the server asks for it; waits the Retry-After.</summary>
        ExpectContinue,

        /// <summary>Headers and body in one go; after a refusal, tries again at once.</summary>
        AtOnce,
    }

    /// <summary>The request's bytes: the head without and with Expect: 100-continue, and the body.</summary>
    private sealed record Request(byte[] Head, byte[] ContinueHead, byte[] Body)
    {
        public byte[] Whole { get; } = [.. Head, .. Body];
    }

    private sealed record Step(string Mode, int Clients, double Seconds, double PerSecond, double P50Ms, double P99Ms, long Refused, long Dropped, long Failures, double PeakRssMb,
        double ServerCpuUsPerCall, double QueueMs, double ServerCpuMs)
    {
        public double RefusedPerSecond => Refused / Seconds;

        public Measurement ToMeasurement() =>
            new(Mode, Clients, (long)(PerSecond * Seconds), Refused + Failures, Seconds, PerSecond, P50Ms, P99Ms) { ServerCpuUsPerCall = ServerCpuUsPerCall };

        public override string ToString() => string.Create(CultureInfo.InvariantCulture,
            $"{Mode,-32} {Clients,4} conns {PerSecond,7:0.0}/s  p50 {P50Ms,7:0} ms  p99 {P99Ms,7:0} ms  queue {QueueMs,5:0} ms  server cpu {ServerCpuUsPerCall / 1000,5:0.0} " +
            $"ms/call  refused {RefusedPerSecond,7:0.0}/s (dropped after reading {Dropped})  failures {Failures}  peak RSS {PeakRssMb:0} MB");
    }

    /// <summary>
    /// One client's HTTP/1.1 connection that sends a request while it reads the answer, so an early answer (a refusal
    /// before the body was read) is seen at once; a connection the server closes is opened again for the next call.
    /// </summary>
    private sealed class OverloadConnection(Uri server) : IDisposable
    {
        private readonly byte[] _buffer = new byte[1 << 16];
        private Socket? _socket;

        /// <summary>The status (0 for a broken connection) and the Retry-After seconds given with it.</summary>
        public async Task<(int Status, int RetryAfter, bool Closed)> CallAsync(Request request, bool expectContinue, CancellationToken ct)
        {
            try
            {
                if (_socket is null)
                {
                    _socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    await _socket.ConnectAsync(server.Host, server.Port, ct);
                }

                var socket = _socket;
                if (expectContinue)
                {
                    await socket.SendAsync(request.ContinueHead, SocketFlags.None, ct);
                    var first = await ReadResponseAsync(socket, ct);
                    if (first.Status != 100)
                    {
                        Close(); // answered without the body: the connection cannot carry another request
                        return (first.Status, first.RetryAfter, true);
                    }

                    await socket.SendAsync(request.Body, SocketFlags.None, ct);
                    var final = await ReadResponseAsync(socket, ct);
                    if (final.Close)
                    {
                        Close();
                    }

                    return (final.Status, final.RetryAfter, final.Close);
                }

                var send = socket.SendAsync(request.Whole, SocketFlags.None, ct).AsTask();
                var (status, retryAfter, close) = await ReadResponseAsync(socket, ct);
                if (close)
                {
                    Close(); // the rest of our upload is not wanted
                }

                try
                {
                    await send;
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException && close)
                {
                    // The server closed the connection before taking the whole body: expected with a refusal.
                }

                return (status, retryAfter, close);
            }
            catch (Exception ex) when (ex is SocketException or IOException or InvalidDataException or ObjectDisposedException)
            {
                Close();
                return (0, 0, true);
            }
        }

        private async Task<(int Status, int RetryAfter, bool Close)> ReadResponseAsync(Socket socket, CancellationToken ct)
        {
            var filled = 0;
            int headEnd;
            while ((headEnd = _buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8)) < 0)
            {
                if (filled == _buffer.Length)
                {
                    throw new InvalidDataException("response head too large");
                }

                var n = await socket.ReceiveAsync(_buffer.AsMemory(filled), SocketFlags.None, ct);
                if (n == 0)
                {
                    throw new InvalidDataException("connection closed");
                }

                filled += n;
            }

            var head = Encoding.ASCII.GetString(_buffer, 0, headEnd);
            var status = int.Parse(head.AsSpan(9, 3), CultureInfo.InvariantCulture);
            if (status == 100)
            {
                return (status, 0, false); // "100 Continue" has no body; the final answer follows the request body
            }

            var length = long.Parse(Header(head, "content-length") ?? throw new InvalidDataException("response without Content-Length"), CultureInfo.InvariantCulture);
            var retryAfter = int.TryParse(Header(head, "retry-after"), CultureInfo.InvariantCulture, out var r) ? r : 0;
            var close = string.Equals(Header(head, "connection"), "close", StringComparison.OrdinalIgnoreCase);
            var remaining = length - (filled - (headEnd + 4));
            while (remaining > 0)
            {
                var n = await socket.ReceiveAsync(_buffer.AsMemory(0, (int)Math.Min(_buffer.Length, remaining)), SocketFlags.None, ct);
                if (n == 0)
                {
                    throw new InvalidDataException("connection closed inside a body");
                }

                remaining -= n;
            }

            return (status, retryAfter, close);
        }

        private static string? Header(string head, string name)
        {
            var at = head.IndexOf("\r\n" + name + ":", StringComparison.OrdinalIgnoreCase);
            if (at < 0)
            {
                return null;
            }

            var start = at + name.Length + 3;
            var end = head.IndexOf('\r', start);
            return head[start..(end < 0 ? head.Length : end)].Trim();
        }

        private void Close()
        {
            _socket?.Dispose();
            _socket = null;
        }

        public void Dispose() => Close();
    }
}
