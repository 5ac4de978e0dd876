using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Xunit.Abstractions;

namespace Maas.Server.Tests.Hardening;

/// <summary>
/// An OpenAI body is parsed once, in the buffer it was read into, and that document serves the whole request: no copy
/// of the body is made after parsing. Measured in the server process itself (a child, so that no other test's
/// allocations count) through the runtime's allocated-bytes counter on /metrics.
/// </summary>
[Collection(LlmServerProcessCollection.Name)]
public sealed class OpenAiBodyMemoryTests(LlmServerProcess fixture, ITestOutputHelper output)
{
    private const int PaddingBytes = 4 << 20;
    private const int Measured = 8;

    [Fact]
    public async Task A_large_body_costs_the_server_far_less_than_its_size_in_allocations_per_request()
    {
        // Most of each body is a string the server does not read (OpenAI's metadata), so what a request allocates
        // beyond its parse is what handling the rest costs: a copy of the body would be at least its size again.
        var padding = new string('x', PaddingBytes);
        var bodies = new (string Path, byte[] Body)[]
        {
            ("/v1/chat/completions", Encoding.UTF8.GetBytes($$"""{"model":"gen","max_tokens":1,"metadata":{"pad":"{{padding}}"},"messages":[{"role":"user","content":"hi"}]}""")),
            ("/v1/completions", Encoding.UTF8.GetBytes($$$"""{"model":"gen","max_tokens":1,"prompt":"hi","metadata":{"pad":"{{{padding}}}"}}""")),
        };

        // Warm-up: the pooled buffers grow to the body's size once, and the code paths are compiled.
        for (var i = 0; i < 4; i++)
        {
            await PostOkAsync(bodies[i % 2]);
        }

        // Each request measured alone, the least kept: a copy of the body costs every request at least its size, while
        // the parser's pooled buffer costs only a request that misses the shared pool (a buffer left in another
        // thread's slot, or trimmed after a full collection on a busy machine), which then allocates it anew.
        var perRequest = double.MaxValue;
        for (var i = 0; i < Measured * 3 && perRequest >= PaddingBytes / 2; i++)
        {
            var before = await AllocatedBytesAsync();
            await PostOkAsync(bodies[i % 2]);
            var after = await AllocatedBytesAsync();
            perRequest = Math.Min(perRequest, after - before);
            output.WriteLine($"request {i + 1}: {after - before:N0} bytes allocated for a body of {bodies[i % 2].Body.Length:N0} bytes");
        }

        Assert.True(
            perRequest < PaddingBytes / 2,
            $"the server allocated {perRequest:N0} bytes per request of {bodies[0].Body.Length:N0} bytes: the body is copied after parsing");
    }

    [Fact]
    public async Task A_body_past_the_servers_limit_is_a_400_in_openai_format_naming_the_limit()
    {
        // Kestrel's default limit (30000000 bytes); the client waits for 100-continue, so the refusal comes first.
        var body = new byte[30_000_001];
        body.AsSpan().Fill((byte)' ');
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.ExpectContinue = true;
        using var response = await fixture.Server.Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode}: {text}");
        var error = System.Text.Json.JsonDocument.Parse(text).RootElement.GetProperty("error");
        Assert.Equal("request_too_large", error.GetProperty("code").GetString());
        Assert.Contains("30000000 bytes", error.GetProperty("message").GetString()!, StringComparison.Ordinal);
        Assert.True(fixture.Server.IsRunning);
    }

    private async Task PostOkAsync((string Path, byte[] Body) request)
    {
        using var content = new ByteArrayContent(request.Body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var response = await fixture.Server.Client.PostAsync(request.Path, content);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{request.Path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    // The runtime's own counter (System.Runtime meter, dotnet.gc.heap.total_allocated), read in the server process.
    private async Task<double> AllocatedBytesAsync()
    {
        const string Name = "dotnet_gc_heap_total_allocated_bytes_total ";
        var text = await fixture.Server.Client.GetStringAsync("/metrics");
        var line = text.Split('\n').SingleOrDefault(l => l.StartsWith(Name, StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"/metrics has no {Name.Trim()}");
        return double.Parse(line[Name.Length..].Trim().Split(' ')[0], NumberStyles.Float, CultureInfo.InvariantCulture);
    }
}
