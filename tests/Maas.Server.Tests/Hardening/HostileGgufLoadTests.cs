using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Maas.Core.Formats.Gguf;
using Maas.Server.Tests.OpenAi;
using Maas.Server.Tests.Support;
using Maas.Testing;
using Xunit.Abstractions;

namespace Maas.Server.Tests.Hardening;

/// <summary>
/// Hostile GGUF files that our reader accepts reach llama.cpp's loader on their first request: each must load or fail
/// with a clean error, never end the process (llama.cpp asserts abort it). A server of its own, as a child process,
/// so that a crash shows as a dead child and names the file.
/// </summary>
public sealed class HostileGgufLoadTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly TempDirectory _data = new("maas-hostile-gguf");
    private MaasServerProcess _server = null!;

    /// <inheritdoc />
    public async Task InitializeAsync() =>
        _server = await MaasServerProcess.StartAsync(_data.Path, new Dictionary<string, string?>(LlmServerFixture.Settings)
        {
            ["Maas:Llm:KeepAliveSeconds"] = "1", // the accepted files are loaded one after another; none needs to stay
        });

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _data.Dispose();
    }

    [Fact]
    public async Task Gguf_files_the_reader_accepts_load_and_answer_or_fail_cleanly_and_the_server_lives()
    {
        var files = HostileModels.Corpus().Where(m => m.FileName.EndsWith(".gguf", StringComparison.Ordinal))
            .Concat(CraftedVocabularies())
            .ToList();
        // What llama.cpp would abort on is refused at upload already, naming the reason.
        var mustRefuse = CraftedVocabularies().Select(m => m.Description).ToHashSet();
        var accepted = 0;
        var answered = 0;
        for (var i = 0; i < files.Count; i++)
        {
            var file = files[i];
            var name = $"hostile-{i}";
            using (var created = await _server.Client.PostAsJsonAsync("/api/v1/models", new { name, task = "text-generation" }))
            {
                Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());
            }

            using (var uploaded = await _server.Client.PostAsync($"/api/v1/models/{name}/versions", MaasTestServer.Artifact(file.Bytes, file.FileName)))
            {
                var refusal = await uploaded.Content.ReadAsStringAsync();
                Assert.False(mustRefuse.Contains(file.Description) && uploaded.StatusCode == HttpStatusCode.Created, $"{file.Description} was accepted");
                if (uploaded.StatusCode != HttpStatusCode.Created)
                {
                    Assert.True(uploaded.StatusCode == HttpStatusCode.BadRequest, $"{file.Description}: {(int)uploaded.StatusCode} {refusal}");
                    if (mustRefuse.Contains(file.Description))
                    {
                        output.WriteLine($"{file.Description}: {JsonDocument.Parse(refusal).RootElement.GetProperty("error").GetProperty("message").GetString()}");
                    }

                    continue;
                }
            }

            accepted++;
            var status = 0;
            var text = "";
            try
            {
                using var response = await _server.Client.PostAsync("/v1/completions", Api.Json($$"""{"model":"{{name}}","prompt":"hi","max_tokens":2}"""));
                status = (int)response.StatusCode;
                text = await response.Content.ReadAsStringAsync();
            }
            catch (HttpRequestException ex)
            {
                text = ex.Message;
            }

            Assert.True(_server.IsRunning, $"the server died on {file.Description}:\n{_server.RecentOutput}");
            Assert.True(status is 200 or 400 or 503 or 500, $"{file.Description}: {status} {text}");
            Assert.DoesNotContain("   at ", text, StringComparison.Ordinal);
            if (status == 200)
            {
                answered++;
            }
            else
            {
                var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
                Assert.Equal(JsonValueKind.String, error.GetProperty("message").ValueKind);
            }
        }

        output.WriteLine($"{files.Count} files, {accepted} accepted, {answered} answered");
        Assert.True(answered > 0, "not even the unchanged file answered");
        using var live = await _server.Client.GetAsync("/health/live");
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
    }

    [Fact]
    public async Task A_stored_file_that_turned_hostile_after_its_upload_is_refused_at_load_and_the_server_lives()
    {
        // A file accepted before a check existed, or changed on disk since: the load reads it with the project's own
        // reader again before llama.cpp sees it (two tokens spelled alike abort llama.cpp's loader).
        var good = HostileModels.SmallGguf();
        var hostile = CraftedVocabularies().First().Bytes;
        Assert.Equal(good.Length, hostile.Length);
        const string Name = "turned-hostile";
        using (var created = await _server.Client.PostAsJsonAsync("/api/v1/models", new { name = Name, task = "text-generation" }))
        {
            Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());
        }

        using (var uploaded = await _server.Client.PostAsync($"/api/v1/models/{Name}/versions", MaasTestServer.Artifact(good, "model.gguf")))
        {
            Assert.True(uploaded.StatusCode == HttpStatusCode.Created, await uploaded.Content.ReadAsStringAsync());
        }

        var stored = Directory.EnumerateFiles(_data.Path, "*", SearchOption.AllDirectories)
            .Where(f => new FileInfo(f).Length == good.Length && File.ReadAllBytes(f).AsSpan().SequenceEqual(good)).ToList();
        Assert.NotEmpty(stored);
        foreach (var file in stored)
        {
            await File.WriteAllBytesAsync(file, hostile);
        }

        using var response = await _server.Client.PostAsync("/v1/completions", Api.Json($$"""{"model":"{{Name}}","prompt":"hi","max_tokens":2}"""));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(_server.IsRunning, $"the server died loading the changed file:\n{_server.RecentOutput}");
        Assert.True((int)response.StatusCode is 503 or 500, $"{(int)response.StatusCode} {text}");
        Assert.Equal(JsonValueKind.String, JsonDocument.Parse(text).RootElement.GetProperty("error").GetProperty("message").ValueKind);
        using var live = await _server.Client.GetAsync("/health/live");
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
    }

    // Vocabularies llama.cpp's loader asserts on (GGML_ASSERT aborts the process): two tokens with one text.
    private static IEnumerable<HostileModel> CraftedVocabularies()
    {
        var good = HostileModels.SmallGguf();
        // The byte tokens "!" and "\"" sit next to each other, each a one-byte string after its 64-bit length.
        byte[] pair = [1, 0, 0, 0, 0, 0, 0, 0, (byte)'!', 1, 0, 0, 0, 0, 0, 0, 0, (byte)'"'];
        var at = good.AsSpan().IndexOf(pair);
        Assert.True(at > 0, "the small GGUF no longer holds the byte tokens side by side");
        var duplicate = (byte[])good.Clone();
        duplicate[at + pair.Length - 1] = (byte)'!';
        yield return new HostileModel("GGUF with two tokens spelled '!'", "model.gguf", duplicate);

        // Layer and expert counts llama.cpp asserts on before it reads a tensor.
        foreach (var (what, changes) in new (string, (string Key, GgufValue Value)[])[]
        {
            ("no layers", [("llama.block_count", GgufValue.From(0u))]),
            ("513 layers", [("llama.block_count", GgufValue.From(513u))]),
            ("more next-token layers than layers", [("llama.nextn_predict_layers", GgufValue.From(2u))]),
            ("2000 experts", [("llama.expert_count", GgufValue.From(2000u)), ("llama.expert_used_count", GgufValue.From(1u))]),
            ("experts of which none is used", [("llama.expert_count", GgufValue.From(4u)), ("llama.expert_used_count", GgufValue.From(0u))]),
            ("more experts used than there are", [("llama.expert_count", GgufValue.From(4u)), ("llama.expert_used_count", GgufValue.From(5u))]),
            ("experts used but none there", [("llama.expert_used_count", GgufValue.From(2u))]),
            ("expert groups that do not divide the experts", [("llama.expert_count", GgufValue.From(6u)), ("llama.expert_used_count", GgufValue.From(2u)),
            ("llama.expert_group_count", GgufValue.From(4u)), ("llama.expert_group_used_count", GgufValue.From(1u))]),
        })
        {
            yield return new HostileModel($"GGUF with {what}", "model.gguf", Rewritten(good, changes));
        }
    }

    // The file again with some metadata values replaced or added, tensors unchanged.
    private static byte[] Rewritten(byte[] gguf, (string Key, GgufValue Value)[] changes)
    {
        var file = GgufReader.Read(new MemoryStream(gguf));
        var values = changes.ToDictionary(c => c.Key, c => c.Value);
        using var output = new MemoryStream();
        using (var writer = new GgufWriter(output, file.Alignment, leaveOpen: true))
        {
            foreach (var key in file.MetadataKeys.Where(k => k != "general.alignment"))
            {
                writer.Add(key, values.Remove(key, out var replaced) ? replaced : file.Metadata[key]);
            }

            foreach (var (key, value) in values)
            {
                writer.Add(key, value);
            }

            foreach (var tensor in file.Tensors)
            {
                writer.AddTensor(tensor.Name, tensor.Type, [.. tensor.Dimensions]);
            }

            foreach (var tensor in file.Tensors)
            {
                writer.WriteTensorData(gguf.AsSpan(checked((int)(file.DataOffset + (long)tensor.Offset)), checked((int)tensor.ByteSize)));
            }

            writer.Finish();
        }

        return output.ToArray();
    }
}
