using System.ClientModel;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Maas.Core.Formats.Gguf;
using Maas.Core.Tenancy;
using Maas.Server.Tests.OpenAi;
using Maas.Server.Tests.Support;
using Maas.Testing;
using OpenAI.Chat;
using OpenAI.Files;
using OpenAI.FineTuning;

#pragma warning disable OPENAI001 // the fine-tuning client is marked experimental by the OpenAI package

namespace Maas.Server.Tests.FineTuning;

/// <summary>One server whose worker fine-tunes fast: a tiny generated base, a high learning rate, small windows.</summary>
public sealed class FineTuningServer : ServerPerDb
{
    /// <summary>The registered base model (a generated Llama with the ChatML template).</summary>
    public const string Base = "ftbase";

    /// <summary>Largest upload this server takes.</summary>
    public const int MaxFileBytes = 64 * 1024;

    /// <summary>The generated base's shape: small enough to train a few epochs in seconds.</summary>
    public static readonly GgufLlamaModelOptions BaseOptions = new()
    {
        Name = "maas-ft-base",
        EmbeddingLength = 64,
        BlockCount = 2,
        HeadCount = 4,
        KeyValueHeadCount = 2,
        FeedForwardLength = 128,
        ContextLength = 1024,
        VocabularySize = 1000,
    };

    private readonly TempDirectory _files = new("maas-ft-models");

    /// <inheritdoc />
    protected override IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?>(LlmServerFixture.Settings)
    {
        ["Maas:Training:PollMilliseconds"] = "100",
        ["Maas:FineTuning:LearningRate"] = "0.01",
        ["Maas:FineTuning:Window"] = "256",
        ["Maas:FineTuning:Threads"] = "2",
        ["Maas:FineTuning:MaxFileBytes"] = MaxFileBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>The generated base GGUF (written by <see cref="ServerAsync"/>).</summary>
    public string BasePath => Path.Combine(_files.Path, "base.gguf");

    /// <summary>The server, with the base registered once.</summary>
    public async Task<MaasTestServer> ServerAsync()
    {
        var server = await GetAsync(Db.Sqlite);
        var path = Path.Combine(_files.Path, "base.gguf");
        lock (_files)
        {
            if (File.Exists(path))
            {
                return server;
            }

            GgufLlamaModelFactory.Write(path, BaseOptions);
        }

        await LlmServerFixture.RegisterAsync(server.Client, Base, await File.ReadAllBytesAsync(path), "base.gguf");
        return server;
    }

    /// <inheritdoc />
    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        _files.Dispose();
    }
}

/// <summary>OpenAI's files and fine-tuning APIs end to end, with the official OpenAI .NET client where it has the call.</summary>
public sealed class FineTuningApiTests(FineTuningServer servers) : IClassFixture<FineTuningServer>
{
    /// <summary>The synthetic task's answer, whatever the question.</summary>
    private const string Pattern = "ok ok ok";

    private static string Chats(int count, int seed)
    {
        var random = new Random(seed);
        var lines = new StringBuilder();
        for (var i = 0; i < count; i++)
        {
            var question = new string(Enumerable.Range(0, random.Next(4, 12)).Select(_ => (char)('a' + random.Next(26))).ToArray());
            lines.Append($$"""{"messages": [{"role": "user", "content": "{{question}}"}, {"role": "assistant", "content": "{{Pattern}}"}]}""").Append('\n');
        }

        return lines.ToString();
    }

    private static MultipartFormDataContent Upload(string content, string purpose = "fine-tune", string fileName = "chats.jsonl")
    {
        var form = new MultipartFormDataContent { { new StringContent(purpose), "purpose" } };
        var file = new ByteArrayContent(Encoding.UTF8.GetBytes(content));
        file.Headers.ContentType = new MediaTypeHeaderValue("application/jsonl");
        form.Add(file, "file", fileName);
        return form;
    }

    private static async Task<JsonNode> OpenAiErrorAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        var error = JsonNode.Parse(text)!["error"]!;
        Assert.Equal(code, (string?)error["code"]);
        Assert.Equal(status == HttpStatusCode.InternalServerError ? "server_error" : "invalid_request_error", (string?)error["type"]);
        Assert.False(string.IsNullOrEmpty((string?)error["message"]));
        Assert.DoesNotContain("\\u0027", text, StringComparison.Ordinal); // readable text, not JSON escapes
        return error;
    }

    [Fact]
    public async Task The_official_client_uploads_fine_tunes_follows_events_and_chats_with_the_result()
    {
        var server = await servers.ServerAsync();
        var openAi = LlmServerFixture.ClientFor(server);
        var files = openAi.GetOpenAIFileClient();
        OpenAIFile training = await files.UploadFileAsync(BinaryData.FromString(Chats(24, seed: 1)), "train.jsonl", FileUploadPurpose.FineTune);
        OpenAIFile validation = await files.UploadFileAsync(BinaryData.FromString(Chats(6, seed: 2)), "valid.jsonl", FileUploadPurpose.FineTune);
        Assert.StartsWith("file-", training.Id, StringComparison.Ordinal);
        Assert.Equal("train.jsonl", training.Filename);

        var fineTuning = openAi.GetFineTuningClient();
        var job = await fineTuning.FineTuneAsync(
            FineTuningServer.Base,
            training.Id,
            waitUntilCompleted: false,
            new FineTuningOptions
            {
                ValidationFile = validation.Id,
                Suffix = "pattern",
                Seed = 7,
                TrainingMethod = FineTuningTrainingMethod.CreateSupervised(epochCount: 3),
            });

        // Follow the events with the official client, which pages through them 4 at a time, until the newest says the job ended.
        var messages = await Conditions.ReadUntilAsync(
            async () =>
            {
                var read = new List<string>();
                await foreach (var e in job.GetEventsAsync(new GetEventsOptions { PageSize = 4 }))
                {
                    read.Add(e.Message);
                    Assert.True(read.Count < 1000, "the events never end: paging repeats itself");
                }

                return read;
            },
            read => read.Count > 0 && (read[0] is "Job status: succeeded" or "Job status: cancelled" || read[0].StartsWith("Job status: failed", StringComparison.Ordinal)),
            "the job's events say it ended",
            TimeSpan.FromMinutes(5));
        Assert.Equal("Job status: succeeded", messages[0]);
        Assert.Equal("Created fine-tuning job", messages[^1]);
        Assert.Contains("Job status: running", messages);
        await job.UpdateStatusAsync();
        Assert.Equal(FineTuningStatus.Succeeded, job.Status);

        var ended = await (await server.Client.GetAsync($"v1/fine_tuning/jobs/{job.JobId}")).JsonAsync(HttpStatusCode.OK);
        var fineTuned = (string)ended["fine_tuned_model"]!;
        Assert.Equal($"{FineTuningServer.Base}-ft-pattern:{job.JobId}", fineTuned);
        Assert.Equal(3, (int)ended["hyperparameters"]!["n_epochs"]!);
        Assert.Equal("auto", (string?)ended["hyperparameters"]!["batch_size"]);
        Assert.Equal(7, (int)ended["seed"]!);
        Assert.Equal("pattern", (string?)ended["user_provided_suffix"]);
        Assert.Equal(validation.Id, (string?)ended["validation_file"]);
        Assert.Null(ended["error"]);
        Assert.True((long)ended["trained_tokens"]! > 0);

        // Events (newest first) carry the losses; one checkpoint per epoch.
        var events = await (await server.Client.GetAsync($"v1/fine_tuning/jobs/{job.JobId}/events?limit=100")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(messages, events["data"]!.AsArray().Select(e => (string)e!["message"]!)); // the client's pages, joined, are the whole list
        Assert.All(events["data"]!.AsArray(), e => Assert.Equal("fine_tuning.job.event", (string?)e!["object"]));
        var metrics = events["data"]!.AsArray().Where(e => (string?)e!["type"] == "metrics").Select(e => e!["data"]!).Reverse().ToList();
        Assert.Equal([1, 2, 3], metrics.Select(m => (int)m["epoch"]!));
        Assert.All(metrics, m => Assert.True((double)m["train_loss"]! > 0 && (double)m["valid_loss"]! > 0, m.ToJsonString()));
        Assert.True((double)metrics[^1]["valid_loss"]! < (double)metrics[0]["valid_loss"]!, "the validation loss did not fall over the epochs");

        // A page of the events and the next one after its last id.
        var firstPage = await (await server.Client.GetAsync($"v1/fine_tuning/jobs/{job.JobId}/events?limit=3")).JsonAsync(HttpStatusCode.OK);
        Assert.True((bool)firstPage["has_more"]!);
        var secondPage = await (await server.Client.GetAsync($"v1/fine_tuning/jobs/{job.JobId}/events?limit=3&after={firstPage["data"]![2]!["id"]}")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(messages.Skip(3).Take(3), secondPage["data"]!.AsArray().Select(e => (string)e!["message"]!));
        // Epochs 1 and 2 are versions 1 and 2 (callable checkpoints), the final model version 3.
        Assert.Contains(events["data"]!.AsArray(), e => ((string?)e!["message"])!.Contains($"{fineTuned} (version 3) is ready", StringComparison.Ordinal));
        var checkpoints = await (await server.Client.GetAsync($"v1/fine_tuning/jobs/{job.JobId}/checkpoints")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(3, checkpoints["data"]!.AsArray().Count);

        // The held-out loss dropped by at least half; lineage names the base, files and hyperparameters.
        var versions = await (await server.Client.GetAsync($"api/v1/models/{FineTuningServer.Base}-ft-pattern/versions")).JsonAsync(HttpStatusCode.OK);
        var version = versions["versions"]!.AsArray().Single(v => v!["metadata"]!["maas.fine_tuning.job"] is not null)!;
        Assert.Equal(FineTuningServer.Base, (string?)version["derived_from"]!["model"]);
        Assert.Equal(1, (int)version["derived_from"]!["version"]!);
        Assert.Equal("fine-tuned", (string?)version["derived_from"]!["relation"]);
        var lineage = JsonNode.Parse((string)version["metadata"]!["maas.lineage"]!)!;
        Assert.Equal(FineTuningServer.Base, (string?)lineage["base_model"]!["name"]);
        Assert.Equal(1, (int)lineage["base_model"]!["version"]!);
        Assert.Equal(training.Id, (string?)lineage["training_file"]!["id"]);
        Assert.Equal(validation.Id, (string?)lineage["validation_file"]!["id"]);
        Assert.Equal(3, (int)lineage["hyperparameters"]!["n_epochs"]!);
        Assert.Equal(7, (int)lineage["seed"]!);
        Assert.Equal([1, 2, 3], lineage["epochs"]!.AsArray().Select(e => (int)e!["epoch"]!));
        var before = (double)lineage["base_validation_loss"]!;
        var after = (double)lineage["epochs"]!.AsArray()[^1]!["valid_loss"]!;
        Assert.True(after <= 0.5 * before, $"validation loss {before} -> {after}");

        // Callable at once through the chat API, and it answers with the pattern.
        var chat = openAi.GetChatClient(fineTuned);
        ChatCompletion answer = await chat.CompleteChatAsync([new UserChatMessage("qwxyzt")], new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 12 });
        Assert.StartsWith(Pattern, answer.Content[0].Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Files_are_listed_read_back_and_deleted_per_tenant()
    {
        var server = await servers.ServerAsync();
        var content = Chats(3, seed: 3);
        var uploaded = await (await server.Client.PostAsync("v1/files", Upload(content))).JsonAsync(HttpStatusCode.OK);
        var id = (string)uploaded["id"]!;
        Assert.Equal("file", (string?)uploaded["object"]);
        Assert.Equal("fine-tune", (string?)uploaded["purpose"]);
        Assert.Equal(Encoding.UTF8.GetByteCount(content), (long)uploaded["bytes"]!);
        Assert.Equal(content, await server.Client.GetStringAsync($"v1/files/{id}/content"));
        var list = await (await server.Client.GetAsync("v1/files")).JsonAsync(HttpStatusCode.OK);
        Assert.Contains(list["data"]!.AsArray(), f => (string?)f!["id"] == id);

        // Another tenant sees none of it: the same 404 as a file that does not exist.
        var other = await TenantClientAsync(server);
        await OpenAiErrorAsync(await other.GetAsync($"v1/files/{id}"), HttpStatusCode.NotFound, "file_not_found");
        await OpenAiErrorAsync(await other.GetAsync($"v1/files/{id}/content"), HttpStatusCode.NotFound, "file_not_found");
        await OpenAiErrorAsync(await other.DeleteAsync($"v1/files/{id}"), HttpStatusCode.NotFound, "file_not_found");
        var theirs = await (await other.GetAsync("v1/files")).JsonAsync(HttpStatusCode.OK);
        Assert.DoesNotContain(theirs["data"]!.AsArray(), f => (string?)f!["id"] == id);

        var deleted = await (await server.Client.DeleteAsync($"v1/files/{id}")).JsonAsync(HttpStatusCode.OK);
        Assert.True((bool)deleted["deleted"]!);
        await OpenAiErrorAsync(await server.Client.GetAsync($"v1/files/{id}"), HttpStatusCode.NotFound, "file_not_found");
    }

    [Fact]
    public async Task Bad_uploads_are_refused_naming_the_line_or_the_limit()
    {
        var server = await servers.ServerAsync();
        var client = await TenantClientAsync(server); // a tenant of its own, so the file list below is only this test's
        var malformed = Chats(1, seed: 4) + "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}\n";
        var error = await OpenAiErrorAsync(await client.PostAsync("v1/files", Upload(malformed)), HttpStatusCode.BadRequest, "invalid_file_format");
        Assert.Contains("line 2", (string?)error["message"], StringComparison.Ordinal);

        var badRole = "{\"messages\": [{\"role\": \"robot\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"x\"}]}\n";
        error = await OpenAiErrorAsync(await client.PostAsync("v1/files", Upload(badRole)), HttpStatusCode.BadRequest, "invalid_file_format");
        Assert.Contains("line 1", (string?)error["message"], StringComparison.Ordinal);
        Assert.Contains("role", (string?)error["message"], StringComparison.Ordinal);

        var noAssistant = Chats(2, seed: 5) + "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n";
        error = await OpenAiErrorAsync(await client.PostAsync("v1/files", Upload(noAssistant)), HttpStatusCode.BadRequest, "invalid_file_format");
        Assert.Contains("line 3", (string?)error["message"], StringComparison.Ordinal);

        foreach (var (lines, where, what) in new[]
        {
            ("{\"messages\": [{\"role\": \"user\", \"content\": 5}, {\"role\": \"assistant\", \"content\": \"x\"}]}\n", "line 1", "content"),
            (Chats(1, seed: 11) + "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"\"}]}\n", "line 2", "content"),
            (Chats(2, seed: 12) + "{\"prompt\": \"hi\", \"completion\": \"x\"}\n", "line 3", "messages"),
            ("{\"messages\": []}\n", "line 1", "empty"),
            (Chats(1, seed: 13).TrimEnd('\n') + " {}\n", "line 1", "after the JSON object"),
            ("", "line 1", "no examples"),
            (Chats(1, seed: 14) + "{\"messages\": [{\"role\": \"user\", \"content\": \"a\\ud800\"}, {\"role\": \"assistant\", \"content\": \"x\"}]}\n", "line 2",
            "not valid Unicode"),
        })
        {
            error = await OpenAiErrorAsync(await client.PostAsync("v1/files", Upload(lines)), HttpStatusCode.BadRequest, "invalid_file_format");
            Assert.Contains(where, (string?)error["message"], StringComparison.Ordinal);
            Assert.Contains(what, (string?)error["message"], StringComparison.Ordinal);
        }

        // Raw bytes that are not UTF-8 inside a string are refused the same way (the JSON reader does not check them).
        using (var raw = new MultipartFormDataContent())
        {
            raw.Add(new StringContent("fine-tune"), "purpose");
            raw.Add(new ByteArrayContent([.. Encoding.UTF8.GetBytes("{\"messages\": [{\"role\": \"user\", \"content\": \"a"), 0xFF,
                .. Encoding.UTF8.GetBytes("\"}, {\"role\": \"assistant\", \"content\": \"x\"}]}\n")]), "file", "raw.jsonl");
            error = await OpenAiErrorAsync(await client.PostAsync("v1/files", raw), HttpStatusCode.BadRequest, "invalid_file_format");
            Assert.Contains("line 1: a string is not valid Unicode", (string?)error["message"], StringComparison.Ordinal);
        }

        await OpenAiErrorAsync(await client.PostAsync("v1/files", Upload(Chats(1, seed: 6), purpose: "assistants")), HttpStatusCode.BadRequest, "invalid_purpose");

        var tooBig = Chats(2000, seed: 7);
        Assert.True(Encoding.UTF8.GetByteCount(tooBig) > FineTuningServer.MaxFileBytes);
        error = await OpenAiErrorAsync(await client.PostAsync("v1/files", Upload(tooBig)), HttpStatusCode.RequestEntityTooLarge, "file_too_large");
        Assert.Contains(FineTuningServer.MaxFileBytes.ToString(System.Globalization.CultureInfo.InvariantCulture), (string?)error["message"], StringComparison.Ordinal);

        using var manyFields = Upload(Chats(1, seed: 8));
        for (var i = 0; i < 10; i++)
        {
            manyFields.Add(new StringContent("x"), $"extra{i}");
        }

        await OpenAiErrorAsync(await client.PostAsync("v1/files", manyFields), HttpStatusCode.BadRequest, "invalid_multipart");

        // None of the refused uploads was kept.
        Assert.Empty((await (await client.GetAsync("v1/files")).JsonAsync(HttpStatusCode.OK))["data"]!.AsArray());
    }

    [Fact]
    public async Task Bad_jobs_get_openai_errors_and_nothing_is_queued_or_registered()
    {
        var server = await servers.ServerAsync();
        var client = server.Client;
        var file = (string)(await (await client.PostAsync("v1/files", Upload(Chats(3, seed: 9)))).JsonAsync(HttpStatusCode.OK))["id"]!;
        var before = (await (await client.GetAsync("v1/fine_tuning/jobs?limit=100")).JsonAsync(HttpStatusCode.OK))["data"]!.AsArray().Count;

        async Task<JsonNode> Refused(string body, HttpStatusCode status, string code, HttpClient? caller = null) =>
            await OpenAiErrorAsync(await (caller ?? client).PostAsync("v1/fine_tuning/jobs", Api.Json(body)), status, code);

        // A base that is not a GGUF LLM, and one that does not exist.
        await client.CreateModelAsync("ft-onnx");
        await client.UploadAsync("ft-onnx", TestArtifacts.Onnx(), "model.onnx");
        var error = await Refused($$"""{"model": "ft-onnx", "training_file": "{{file}}"}""", HttpStatusCode.BadRequest, "model_not_fine_tunable");
        Assert.Equal("model", (string?)error["param"]);
        Assert.EndsWith("version 1 is ONNX, and only GGUF LLMs can be", (string?)error["message"], StringComparison.Ordinal);
        await Refused($$"""{"model": "no-such-model", "training_file": "{{file}}"}""", HttpStatusCode.NotFound, "model_not_found");

        // A GGUF that is not a decoder LLM (an encoder's architecture): refused with the reason.
        await client.CreateModelAsync("ft-bert");
        await client.UploadAsync("ft-bert", BertGguf(), "model.gguf");
        error = await Refused($$"""{"model": "ft-bert", "training_file": "{{file}}"}""", HttpStatusCode.BadRequest, "model_not_fine_tunable");
        Assert.Contains("architecture 'bert'", (string?)error["message"], StringComparison.Ordinal);

        // Hyperparameters out of range, each named.
        foreach (var (hyper, param) in new[]
        {
            ("{\"n_epochs\": 0}", "n_epochs"),
            ("{\"n_epochs\": 1.5}", "n_epochs"),
            ("{\"batch_size\": \"many\"}", "batch_size"),
            ("{\"learning_rate_multiplier\": -1}", "learning_rate_multiplier"),
            ("{\"train_last_layers\": 0}", "train_last_layers"),
            ("{\"n_epoch\": 3}", "n_epoch"), // a misspelt name used to train the default number of epochs without a word
        })
        {
            error = await Refused($$"""{"model": "{{FineTuningServer.Base}}", "training_file": "{{file}}", "hyperparameters": {{hyper}}}""", HttpStatusCode.BadRequest,
                "invalid_hyperparameters");
            Assert.Equal($"hyperparameters.{param}", (string?)error["param"]);
        }

        // A string that is not text, escaped (a lone surrogate) or raw (bytes that are not UTF-8), is the caller's 400.
        error = await Refused("""{"model": "x", "training_file": "\ud800"}""", HttpStatusCode.BadRequest, "invalid_unicode");
        Assert.Equal("training_file", (string?)error["param"]);
        error = await Refused("""{"model": "x", "\ud800": 1}""", HttpStatusCode.BadRequest, "invalid_unicode"); // a key: read by the duplicate check
        Assert.Contains("a property name is not valid Unicode", (string?)error["message"], StringComparison.Ordinal);
        using (var raw = new ByteArrayContent([.. Encoding.UTF8.GetBytes("""{"model": "x", "suffix": "a"""), 0xFF, .. Encoding.UTF8.GetBytes("\"}")]))
        {
            raw.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            error = await OpenAiErrorAsync(await client.PostAsync("v1/fine_tuning/jobs", raw), HttpStatusCode.BadRequest, "invalid_unicode");
            Assert.Equal("suffix", (string?)error["param"]);
        }

        // A method that is not an object (or whose supervised part is not one) is refused, not ignored.
        foreach (var (method, param) in new[] { ("5", "method"), ("\"supervised\"", "method"), ("{\"type\": \"supervised\", \"supervised\": 3}", "method.supervised") })
        {
            error = await Refused($$"""{"model": "{{FineTuningServer.Base}}", "training_file": "{{file}}", "method": {{method}}}""", HttpStatusCode.BadRequest, "invalid_method");
            Assert.Equal(param, (string?)error["param"]);
        }

        // Files that do not exist, or belong to another tenant: 404.
        await Refused($$"""{"model": "{{FineTuningServer.Base}}", "training_file": "file-nope"}""", HttpStatusCode.NotFound, "file_not_found");
        var other = await TenantClientAsync(server);
        error = await Refused($$"""{"model": "{{FineTuningServer.Base}}", "training_file": "{{file}}"}""", HttpStatusCode.NotFound, "file_not_found", other);
        Assert.Equal("training_file", (string?)error["param"]);
        await Refused("{\"model\": \"x\"", HttpStatusCode.BadRequest, "invalid_json");
        await Refused($$"""{"training_file": "{{file}}"}""", HttpStatusCode.BadRequest, "missing_model");

        // The rest of the codes docs/api.md lists for a job's body.
        await Refused($$"""{"model": "{{FineTuningServer.Base}}"}""", HttpStatusCode.BadRequest, "missing_training_file");
        await Refused("[1]", HttpStatusCode.BadRequest, "invalid_request");
        await Refused($$"""{"model": "{{FineTuningServer.Base}}", "training_file": "{{file}}", "seed": -1}""", HttpStatusCode.BadRequest, "invalid_seed");
        await Refused($$"""{"model": "{{FineTuningServer.Base}}", "training_file": "{{file}}", "suffix": "-dash"}""", HttpStatusCode.BadRequest, "invalid_suffix");
        await Refused($$"""{"model": "{{FineTuningServer.Base}}", "training_file": "{{file}}", "method": {"type": "dpo"} }""", HttpStatusCode.BadRequest, "unsupported_method");

        var after = (await (await client.GetAsync("v1/fine_tuning/jobs?limit=100")).JsonAsync(HttpStatusCode.OK))["data"]!.AsArray().Count;
        Assert.Equal(before, after);
        await (await client.GetAsync("api/v1/models/ft-onnx-ft")).ErrorAsync(HttpStatusCode.NotFound, "model_not_found");
        await (await client.GetAsync("api/v1/models/ft-bert-ft")).ErrorAsync(HttpStatusCode.NotFound, "model_not_found");
        await OpenAiErrorAsync(await client.GetAsync("v1/fine_tuning/jobs/ftjob-nope"), HttpStatusCode.NotFound, "fine_tuning_job_not_found");
    }

    [Fact]
    public async Task Unknown_fields_keys_given_twice_and_hyperparameters_in_two_places_are_refused_and_nothing_is_queued()
    {
        var server = await servers.ServerAsync();
        var client = server.Client;
        var file = (string)(await (await client.PostAsync("v1/files", Upload(Chats(3, seed: 11)))).JsonAsync(HttpStatusCode.OK))["id"]!;
        var before = (await (await client.GetAsync("v1/fine_tuning/jobs?limit=100")).JsonAsync(HttpStatusCode.OK))["data"]!.AsArray().Count;
        var start = $$"""{"model": "{{FineTuningServer.Base}}", "training_file": "{{file}}", """;

        async Task<JsonNode> Refused(string rest, string code) =>
            await OpenAiErrorAsync(await client.PostAsync("v1/fine_tuning/jobs", Api.Json(start + rest)), HttpStatusCode.BadRequest, code);

        // A misspelt field trained without it: "sufix" registered the result as <base>-ft.
        var error = await Refused("\"sufix\": \"support\"}", "unknown_parameter");
        Assert.Equal("sufix", (string?)error["param"]);
        Assert.Contains("'sufix'", (string?)error["message"], StringComparison.Ordinal);

        // OpenAI's integrations and metadata are not kept here: accepted only empty, refused rather than dropped.
        error = await Refused("\"integrations\": [{\"type\": \"wandb\", \"wandb\": {\"project\": \"p\"}}]}", "unsupported_parameter");
        Assert.Equal("integrations", (string?)error["param"]);
        error = await Refused("\"metadata\": {\"team\": \"a\"}}", "unsupported_parameter");
        Assert.Equal("metadata", (string?)error["param"]);

        // A key given twice: the last one won ("n_epochs" 1 then 10 trained 10 epochs).
        error = await Refused("\"hyperparameters\": {\"n_epochs\": 1, \"n_epochs\": 10}}", "invalid_json");
        Assert.Contains("n_epochs", (string?)error["message"], StringComparison.Ordinal);
        await Refused("\"suffix\": \"a\", \"suffix\": \"b\"}", "invalid_json");

        // Both places for hyperparameters: method's won without a word.
        error = await Refused(
            "\"hyperparameters\": {\"n_epochs\": 5}, \"method\": {\"type\": \"supervised\", \"supervised\": {\"hyperparameters\": {\"n_epochs\": 2}}}}",
            "invalid_hyperparameters");
        Assert.Equal("method.supervised.hyperparameters", (string?)error["param"]);

        var after = (await (await client.GetAsync("v1/fine_tuning/jobs?limit=100")).JsonAsync(HttpStatusCode.OK))["data"]!.AsArray().Count;
        Assert.Equal(before, after);

        // Empty integrations and metadata, and a null top-level hyperparameters beside method's, are fine: queued, then cancelled.
        var job = await (await client.PostAsync("v1/fine_tuning/jobs", Api.Json(
            start + "\"integrations\": [], \"metadata\": {}, \"hyperparameters\": null, \"method\": {\"type\": \"supervised\", \"supervised\": " +
                "{\"hyperparameters\": {\"n_epochs\": 1}}}}")))
            .JsonAsync(HttpStatusCode.OK);
        Assert.Equal(1, (int)job["hyperparameters"]!["n_epochs"]!);
        using (await client.PostAsync($"v1/fine_tuning/jobs/{job["id"]}/cancel", null))
        {
            // Cancelled, or already ended: either way it ends.
        }

        await client.WaitForJobAsync((string)job["id"]!, TimeSpan.FromMinutes(2), "v1/fine_tuning/jobs");
    }

    [Fact]
    public async Task A_cancelled_job_stops_and_registers_nothing()
    {
        var server = await servers.ServerAsync();
        var client = server.Client;
        // Enough chats that 50 epochs take far longer than a cancel takes to arrive (24 trained in about 2 s on a fast machine).
        var file = (string)(await (await client.PostAsync("v1/files", Upload(Chats(240, seed: 10)))).JsonAsync(HttpStatusCode.OK))["id"]!;
        var job = await (await client.PostAsync("v1/fine_tuning/jobs", Api.Json(
            $$$"""{"model": "{{{FineTuningServer.Base}}}", "training_file": "{{{file}}}", "suffix": "cancelled",""" +
            $$$""" "hyperparameters": {"n_epochs": 50}}"""))).JsonAsync(HttpStatusCode.OK);
        var id = (string)job["id"]!;
        Assert.Equal("queued", (string?)job["status"]);

        // Wait until it trains (an epoch event), then cancel.
        await Conditions.WaitUntilAsync(
            async () => (string?)(await (await client.GetAsync($"v1/fine_tuning/jobs/{id}")).JsonAsync(HttpStatusCode.OK))["status"] == "running",
            "the job starts running",
            TimeSpan.FromMinutes(3));

        var cancelled = await (await client.PostAsync($"v1/fine_tuning/jobs/{id}/cancel", null)).JsonAsync(HttpStatusCode.OK);
        Assert.Equal("cancelled", (string?)cancelled["status"]);
        var ended = await client.WaitForJobAsync(id, TimeSpan.FromMinutes(3), "v1/fine_tuning/jobs");
        Assert.Equal("cancelled", (string?)ended["status"]);
        Assert.Null((string?)ended["fine_tuned_model"]);
        await (await client.GetAsync($"api/v1/models/{FineTuningServer.Base}-ft-cancelled")).ErrorAsync(HttpStatusCode.NotFound, "model_not_found");
        await OpenAiErrorAsync(await client.PostAsync($"v1/fine_tuning/jobs/{id}/cancel", null), HttpStatusCode.BadRequest, "job_finished");
    }

    /// <summary>A client of a new tenant with the training scopes.</summary>
    [Fact]
    public async Task A_tenant_fine_tunes_its_own_model_by_its_short_name_into_its_own_namespace()
    {
        var server = await servers.ServerAsync();
        var (tenant, client) = await TenantClientAsync(server, MaasScopes.ModelsRead, MaasScopes.ModelsWrite, MaasScopes.Infer);
        var own = Names.Unique("mine");
        var gguf = await File.ReadAllBytesAsync(servers.BasePath);
        await LlmServerFixture.RegisterAsync(client, own, gguf, "base.gguf");
        var file = (string)(await (await client.PostAsync("v1/files", Upload(Chats(8, seed: 21)))).JsonAsync(HttpStatusCode.OK))["id"]!;

        var job = await (await client.PostAsync("v1/fine_tuning/jobs", Api.Json(
            $$$"""{"model": "{{{own}}}", "training_file": "{{{file}}}", "hyperparameters": {"n_epochs": 1, "train_last_layers": 1}}"""))).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(1, (int)job["hyperparameters"]!["train_last_layers"]!);

        // A key of the tenant limited to other models neither lists nor reaches the job, as /api/v1/jobs already hid it.
        var narrowKey = await (await server.Client.PostAsync("api/v1/keys", Api.Json(
            $$"""{"name": "narrow", "tenant": "{{tenant}}", "scopes": ["training:write"], "models": ["other-*"]}"""))).JsonAsync(HttpStatusCode.Created);
        using var narrow = server.CreateClient((string)narrowKey["key"]!);
        foreach (var path in new[] { $"v1/fine_tuning/jobs/{job["id"]}", $"v1/fine_tuning/jobs/{job["id"]}/events", $"v1/fine_tuning/jobs/{job["id"]}/checkpoints" })
        {
            await OpenAiErrorAsync(await narrow.GetAsync(path), HttpStatusCode.NotFound, "fine_tuning_job_not_found");
        }

        await OpenAiErrorAsync(await narrow.PostAsync($"v1/fine_tuning/jobs/{job["id"]}/cancel", null), HttpStatusCode.NotFound, "fine_tuning_job_not_found");
        Assert.DoesNotContain((await (await narrow.GetAsync("v1/fine_tuning/jobs")).JsonAsync(HttpStatusCode.OK))["data"]!.AsArray(), j => (string?)j!["id"] == (string?)job["id"]);
        Assert.Contains((await (await client.GetAsync("v1/fine_tuning/jobs")).JsonAsync(HttpStatusCode.OK))["data"]!.AsArray(), j => (string?)j!["id"] == (string?)job["id"]);
        var ended = await client.WaitForJobAsync((string)job["id"]!, TimeSpan.FromMinutes(5), "v1/fine_tuning/jobs");
        Assert.True((string?)ended["status"] == "succeeded", ended.ToJsonString());

        // The result is the tenant's own model, named short to it and owner/name to the admin; the lineage names the base's key.
        var fineTuned = (string)ended["fine_tuned_model"]!;
        Assert.Equal($"{own}-ft:{job["id"]}", fineTuned);
        var model = await (await client.GetAsync($"api/v1/models/{own}-ft")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(tenant, (string?)model["owner"]);
        await (await server.Client.GetAsync($"api/v1/models/{tenant}%2F{own}-ft")).JsonAsync(HttpStatusCode.OK);
        var version = (await (await client.GetAsync($"api/v1/models/{own}-ft/versions")).JsonAsync(HttpStatusCode.OK))["versions"]!.AsArray().Single()!;
        Assert.Equal($"{tenant}/{own}", (string?)JsonNode.Parse((string)version["metadata"]!["maas.lineage"]!)!["base_model"]!["name"]);

        var chat = await (await client.PostAsync("v1/chat/completions", Api.Json(
            $$"""{"model": "{{fineTuned}}", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}"""))).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(fineTuned, (string?)chat["model"]);
    }

    [Fact]
    public async Task A_worker_killed_mid_fine_tuning_is_replaced_and_the_job_resumes_after_the_last_epoch()
    {
        _ = await servers.ServerAsync(); // writes the generated base
        using var dir = new TempDirectory("maas-ft-kill");
        var settings = new Dictionary<string, string?>(LlmServerFixture.Settings)
        {
            ["Maas:Training:Workers"] = "0", // the jobs go to the worker processes
            ["Maas:FineTuning:LearningRate"] = "0.01",
            ["Maas:FineTuning:Window"] = "256",
        };
        await using var server = await MaasTestServer.StartAsync(dataDir: dir.Path, settings: settings);
        var client = server.Client;
        await LlmServerFixture.RegisterAsync(client, "killbase", await File.ReadAllBytesAsync(servers.BasePath), "base.gguf");
        var file = (string)(await (await client.PostAsync("v1/files", Upload(Chats(24, seed: 31)))).JsonAsync(HttpStatusCode.OK))["id"]!;
        const int epochs = 8;
        var id = (string)(await (await client.PostAsync("v1/fine_tuning/jobs", Api.Json(
            $$$"""{"model": "killbase", "training_file": "{{{file}}}", "hyperparameters": {"n_epochs": {{{epochs}}}}}"""))).JsonAsync(HttpStatusCode.OK))["id"]!;

        var worker = new[] { "--Maas:FineTuning:Threads=1" };
        var first = Maas.Server.Tests.Training.WorkerKillTests.StartWorker(dir.Path, 1, worker);
        var second = (System.Diagnostics.Process?)null;
        try
        {
            // Kill the worker (SIGKILL) once it has checkpointed an epoch and is still training.
            await Conditions.WaitUntilAsync(
                async () => (await (await client.GetAsync($"v1/fine_tuning/jobs/{id}/checkpoints")).JsonAsync(HttpStatusCode.OK))["data"]!.AsArray().Count > 0,
                "the worker finishes an epoch",
                TimeSpan.FromMinutes(3));

            first.Kill();
            await first.WaitForExitAsync();
            var killed = await (await client.GetAsync($"v1/fine_tuning/jobs/{id}")).JsonAsync(HttpStatusCode.OK);
            Assert.True((string?)killed["status"] is "running" or "queued", killed.ToJsonString());

            second = Maas.Server.Tests.Training.WorkerKillTests.StartWorker(dir.Path, 1, worker);
            var ended = await client.WaitForJobAsync(id, TimeSpan.FromMinutes(5), "v1/fine_tuning/jobs");
            Assert.True((string?)ended["status"] == "succeeded", ended.ToJsonString());

            // Every epoch once (the first worker's are kept, not repeated), one registered version, and a resume message.
            var events = (await (await client.GetAsync($"v1/fine_tuning/jobs/{id}/events?limit=100")).JsonAsync(HttpStatusCode.OK))["data"]!.AsArray();
            Assert.Contains(events, e => ((string?)e!["message"])!.StartsWith("Resuming from the checkpoint of epoch", StringComparison.Ordinal));
            // The final model once, and the last two epochs before it as checkpoints (the last is the final model).
            var versions = (await (await client.GetAsync("api/v1/models/killbase-ft/versions")).JsonAsync(HttpStatusCode.OK))["versions"]!.AsArray();
            Assert.Equal(3, versions.Count);
            var final = Assert.Single(versions, v => v!["metadata"]!["maas.fine_tuning.job"] is not null)!;
            Assert.Equal(3, (int)final["version"]!);
            var lineage = JsonNode.Parse((string)final["metadata"]!["maas.lineage"]!)!;
            Assert.Equal(Enumerable.Range(1, epochs), lineage["epochs"]!.AsArray().Select(e => (int)e!["epoch"]!));
        }
        finally
        {
            foreach (var process in new[] { first, second })
            {
                if (process is { HasExited: false })
                {
                    process.Kill();
                    await process.WaitForExitAsync();
                }

                process?.Dispose();
            }
        }
    }

    [Fact]
    public async Task An_epoch_checkpoint_is_callable_by_its_name_and_only_by_its_tenant()
    {
        var server = await servers.ServerAsync();
        var client = server.Client;
        var file = (string)(await (await client.PostAsync("v1/files", Upload(Chats(8, seed: 41)))).JsonAsync(HttpStatusCode.OK))["id"]!;
        var id = (string)(await (await client.PostAsync("v1/fine_tuning/jobs", Api.Json(
            $$$"""{"model": "{{{FineTuningServer.Base}}}", "training_file": "{{{file}}}", "suffix": "ckpt",""" +
            $$$""" "hyperparameters": {"n_epochs": 2}}"""))).JsonAsync(HttpStatusCode.OK))["id"]!;
        var ended = await client.WaitForJobAsync(id, TimeSpan.FromMinutes(5), "v1/fine_tuning/jobs");
        Assert.True((string?)ended["status"] == "succeeded", ended.ToJsonString());

        // Newest first: epoch 2 (the final model's weights), then epoch 1.
        var checkpoints = (await (await client.GetAsync($"v1/fine_tuning/jobs/{id}/checkpoints")).JsonAsync(HttpStatusCode.OK))["data"]!.AsArray();
        Assert.Equal(2, checkpoints.Count);
        var first = (string)checkpoints[1]!["fine_tuned_model_checkpoint"]!;
        Assert.Equal($"{FineTuningServer.Base}-ft-ckpt:{id}-epoch-1", first);
        Assert.Equal($"{FineTuningServer.Base}-ft-ckpt:{id}-epoch-2", (string?)checkpoints[0]!["fine_tuned_model_checkpoint"]);

        // The epoch-1 checkpoint is a version of its own; the epoch-2 name is the final model.
        var aliases = (await (await client.GetAsync($"api/v1/models/{FineTuningServer.Base}-ft-ckpt/aliases")).JsonAsync(HttpStatusCode.OK))["aliases"]!.AsArray();
        int VersionOf(string alias) => (int)aliases.Single(a => (string?)a!["name"] == alias)!["version"]!;
        Assert.NotEqual(VersionOf(id), VersionOf($"{id}-epoch-1"));
        Assert.Equal(VersionOf(id), VersionOf($"{id}-epoch-2"));

        var chat = await (await client.PostAsync("v1/chat/completions", Api.Json(
            $$"""{"model": "{{first}}", "max_tokens": 4, "temperature": 0, "messages": [{"role": "user", "content": "hi"}]}"""))).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(first, (string?)chat["model"]);
        Assert.False(string.IsNullOrEmpty((string?)chat["choices"]![0]!["message"]!["content"]));

        // Another tenant: the same name is not a model it can call, nor a job it can see.
        var (_, other) = await TenantClientAsync(server, MaasScopes.Infer);
        await OpenAiErrorAsync(await other.PostAsync("v1/chat/completions", Api.Json(
            $$"""{"model": "{{first}}", "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}""")), HttpStatusCode.NotFound, "model_not_found");
        await OpenAiErrorAsync(await other.GetAsync($"v1/fine_tuning/jobs/{id}/checkpoints"), HttpStatusCode.NotFound, "fine_tuning_job_not_found");
        await OpenAiErrorAsync(await other.GetAsync($"v1/fine_tuning/jobs/{id}"), HttpStatusCode.NotFound, "fine_tuning_job_not_found");
        await OpenAiErrorAsync(await other.GetAsync($"v1/fine_tuning/jobs/{id}/events"), HttpStatusCode.NotFound, "fine_tuning_job_not_found");
        await OpenAiErrorAsync(await other.PostAsync($"v1/fine_tuning/jobs/{id}/cancel", null), HttpStatusCode.NotFound, "fine_tuning_job_not_found");
        var theirs = await (await other.GetAsync("v1/fine_tuning/jobs?limit=100")).JsonAsync(HttpStatusCode.OK);
        Assert.DoesNotContain(theirs["data"]!.AsArray(), j => (string?)j!["id"] == id);
    }

    [Fact]
    public async Task Batch_size_is_the_number_of_chats_per_optimizer_step()
    {
        var server = await servers.ServerAsync();
        var client = server.Client;
        var file = (string)(await (await client.PostAsync("v1/files", Upload(Chats(7, seed: 51)))).JsonAsync(HttpStatusCode.OK))["id"]!;
        var id = (string)(await (await client.PostAsync("v1/fine_tuning/jobs", Api.Json(
            $$$"""{"model": "{{{FineTuningServer.Base}}}", "training_file": "{{{file}}}", "suffix": "batch", "hyperparameters":""" +
            $$$""" {"n_epochs": 2, "batch_size": 2}}"""))).JsonAsync(HttpStatusCode.OK))["id"]!;
        var ended = await client.WaitForJobAsync(id, TimeSpan.FromMinutes(5), "v1/fine_tuning/jobs");
        Assert.True((string?)ended["status"] == "succeeded", ended.ToJsonString());
        Assert.Equal(2, (int)ended["hyperparameters"]!["batch_size"]!);

        // 7 chats, 2 per step: 4 steps an epoch (the last takes one chat), each a 256-token window.
        var checkpoints = (await (await client.GetAsync($"v1/fine_tuning/jobs/{id}/checkpoints")).JsonAsync(HttpStatusCode.OK))["data"]!.AsArray();
        Assert.Equal([8L, 4L], checkpoints.Select(c => (long)c!["step_number"]!));
        Assert.Equal(2 * 4 * 256, (long)ended["trained_tokens"]!);
    }

    [Fact]
    public async Task The_job_list_pages_newest_first_per_tenant_and_auto_hyperparameters_take_the_defaults()
    {
        var server = await servers.ServerAsync();
        var (_, key) = await TenantKeyAsync(server, MaasScopes.ModelsRead, MaasScopes.ModelsWrite);
        using var client = server.CreateClient(key);
        var own = Names.Unique("paged");
        await LlmServerFixture.RegisterAsync(client, own, await File.ReadAllBytesAsync(servers.BasePath), "base.gguf");
        var file = (string)(await (await client.PostAsync("v1/files", Upload(Chats(2, seed: 61)))).JsonAsync(HttpStatusCode.OK))["id"]!;

        // Five jobs, each cancelled at once (queued or barely started): the list is what is tested, not the training.
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var job = await (await client.PostAsync("v1/fine_tuning/jobs", Api.Json(
                $$$"""{"model": "{{{own}}}", "training_file": "{{{file}}}", "hyperparameters": {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto",""" +
                $$$""" "train_last_layers": "auto"}}"""))).JsonAsync(HttpStatusCode.OK);
            Assert.Equal("fine_tuning.job", (string?)job["object"]);
            Assert.Equal("queued", (string?)job["status"]);
            Assert.Null(job["fine_tuned_model"]);
            var hyper = job["hyperparameters"]!;
            Assert.Equal(3, (int)hyper["n_epochs"]!); // Maas:FineTuning:DefaultEpochs
            Assert.Equal("auto", (string?)hyper["batch_size"]);
            Assert.Equal(1.0, (double)hyper["learning_rate_multiplier"]!);
            Assert.Equal("auto", (string?)hyper["train_last_layers"]);
            Assert.Equal(hyper.ToJsonString(), job["method"]!["supervised"]!["hyperparameters"]!.ToJsonString());
            Assert.True(job["seed"] is JsonValue, "a job without a seed is given one");
            var cancelled = await (await client.PostAsync($"v1/fine_tuning/jobs/{job["id"]}/cancel", null)).JsonAsync(HttpStatusCode.OK);
            Assert.Equal("cancelled", (string?)cancelled["status"]);
            ids.Add((string)job["id"]!);
        }

        ids.Reverse(); // newest first
        foreach (var id in ids)
        {
            Assert.Equal("cancelled", (string?)(await client.WaitForJobAsync(id, TimeSpan.FromMinutes(2), "v1/fine_tuning/jobs"))["status"]);
        }

        // Pages of two: after the last id of each page, until has_more is false; the tenant sees only its own five.
        var seen = new List<string>();
        string? after = null;
        for (var pages = 1; ; pages++)
        {
            var page = await (await client.GetAsync($"v1/fine_tuning/jobs?limit=2{(after is null ? "" : $"&after={after}")}")).JsonAsync(HttpStatusCode.OK);
            Assert.Equal("list", (string?)page["object"]);
            var data = page["data"]!.AsArray().Select(j => (string)j!["id"]!).ToList();
            seen.AddRange(data);
            if (!(bool)page["has_more"]!)
            {
                Assert.Equal(3, pages);
                Assert.Single(data);
                break;
            }

            Assert.Equal(2, data.Count);
            after = data[^1];
        }

        Assert.Equal(ids, seen);

        // The official client pages the same way (limit and after) and gets the same list.
        var listed = new List<string>();
        await foreach (var job in new OpenAI.OpenAIClient(new ApiKeyCredential(key), new OpenAI.OpenAIClientOptions
        {
            Endpoint = new Uri(server.BaseAddress,
            "v1/")
        }).GetFineTuningClient().GetJobsAsync(new FineTuningJobCollectionOptions { PageSize = 2 }))
        {
            listed.Add(job.JobId);
            Assert.True(listed.Count < 100, "the pages never end");
        }

        Assert.Equal(ids, listed);
        // Every job was cancelled while queued or while it trained (this tiny one often ends its windows before the
        // worker's next heartbeat sees the request): none registered a model.
        await (await client.GetAsync($"api/v1/models/{own}-ft")).ErrorAsync(HttpStatusCode.NotFound, "model_not_found");

        // An "after" that names no job (or another tenant's) is an empty last page too.
        var noJob = await (await client.GetAsync("v1/fine_tuning/jobs?after=ftjob-unknown")).JsonAsync(HttpStatusCode.OK);
        Assert.Empty(noJob["data"]!.AsArray());
        Assert.False((bool)noJob["has_more"]!);

        // An "after" that names no event is an empty last page, not the first page again (which pages forever).
        var unknownAfter = await (await client.GetAsync($"v1/fine_tuning/jobs/{ids[0]}/events?after=ftevent-unknown")).JsonAsync(HttpStatusCode.OK);
        Assert.Empty(unknownAfter["data"]!.AsArray());
        Assert.False((bool)unknownAfter["has_more"]!);
        await OpenAiErrorAsync(await client.GetAsync("v1/fine_tuning/jobs?limit=0"), HttpStatusCode.BadRequest, "invalid_limit");
        await OpenAiErrorAsync(await client.GetAsync("v1/fine_tuning/jobs?limit=101"), HttpStatusCode.BadRequest, "invalid_limit");
    }

    [Fact]
    public async Task A_job_whose_chats_do_not_fit_the_window_fails_with_the_reason_and_registers_nothing()
    {
        var server = await servers.ServerAsync();
        var client = server.Client;
        // Valid JSON Lines, so the upload takes it; the third chat is longer than the server's 256-token window.
        var tooLong = $$"""{"messages": [{"role": "user", "content": "{{string.Join(' ', Enumerable.Repeat("word", 400))}}"}, {"role": "assistant", "content": "ok"}]}""" + "\n";
        var file = (string)(await (await client.PostAsync("v1/files", Upload(Chats(2, seed: 71) + tooLong))).JsonAsync(HttpStatusCode.OK))["id"]!;
        var id = (string)(await (await client.PostAsync("v1/fine_tuning/jobs", Api.Json(
            $$$"""{"model": "{{{FineTuningServer.Base}}}", "training_file": "{{{file}}}", "suffix": "toolong",""" +
            $$$""" "hyperparameters": {"n_epochs": 1}}"""))).JsonAsync(HttpStatusCode.OK))["id"]!;

        var ended = await client.WaitForJobAsync(id, TimeSpan.FromMinutes(3), "v1/fine_tuning/jobs");
        Assert.True((string?)ended["status"] == "failed", ended.ToJsonString());
        Assert.Null((string?)ended["fine_tuned_model"]);
        Assert.Equal("invalid_training_data", (string?)ended["error"]!["code"]);
        Assert.Contains("training file line 3", (string?)ended["error"]!["message"], StringComparison.Ordinal);
        Assert.NotNull(ended["finished_at"]);

        var events = (await (await client.GetAsync($"v1/fine_tuning/jobs/{id}/events")).JsonAsync(HttpStatusCode.OK))["data"]!.AsArray();
        Assert.Equal("error", (string?)events[0]!["level"]);
        Assert.StartsWith("Job status: failed", (string?)events[0]!["message"], StringComparison.Ordinal);
        Assert.Empty((await (await client.GetAsync($"v1/fine_tuning/jobs/{id}/checkpoints")).JsonAsync(HttpStatusCode.OK))["data"]!.AsArray());
        await (await client.GetAsync($"api/v1/models/{FineTuningServer.Base}-ft-toolong")).ErrorAsync(HttpStatusCode.NotFound, "model_not_found");
        await OpenAiErrorAsync(await client.PostAsync($"v1/fine_tuning/jobs/{id}/cancel", null), HttpStatusCode.BadRequest, "job_finished");
    }

    [Fact]
    public async Task A_validation_file_that_is_the_training_file_trains_and_says_its_loss_is_not_held_out()
    {
        var server = await servers.ServerAsync();
        var client = server.Client;
        var file = (string)(await (await client.PostAsync("v1/files", Upload(Chats(3, seed: 81)))).JsonAsync(HttpStatusCode.OK))["id"]!;
        var id = (string)(await (await client.PostAsync("v1/fine_tuning/jobs", Api.Json(
            $$$"""{"model": "{{{FineTuningServer.Base}}}", "training_file": "{{{file}}}", "validation_file": "{{{file}}}", "suffix": "same",""" +
            $$$""" "hyperparameters": {"n_epochs": 1}}"""))).JsonAsync(HttpStatusCode.OK))["id"]!;

        var ended = await client.WaitForJobAsync(id, TimeSpan.FromMinutes(3), "v1/fine_tuning/jobs");
        Assert.True((string?)ended["status"] == "succeeded", ended.ToJsonString());
        var events = (await (await client.GetAsync($"v1/fine_tuning/jobs/{id}/events?limit=100")).JsonAsync(HttpStatusCode.OK))["data"]!.AsArray();
        Assert.Contains(events, e => ((string?)e!["message"])!.Contains("same chats as the training file", StringComparison.Ordinal));
        Assert.Contains(events, e => ((string?)e!["message"])!.EndsWith(" on 3 chats for 1 epoch", StringComparison.Ordinal)); // not "1 epochs"
    }

    // A valid GGUF of an encoder (BERT's architecture name, a vocabulary size, one tensor): not an LLM to fine-tune.
    private static byte[] BertGguf()
    {
        using var stream = new MemoryStream();
        using (var writer = new GgufWriter(stream, leaveOpen: true))
        {
            writer.Add("general.architecture", "bert");
            writer.Add("bert.vocab_size", 100u);
            writer.AddTensor("token_embd.weight", GgmlType.F32, 8, 100);
            writer.WriteHeader();
            writer.WriteTensorValues(new float[800]);
            writer.Finish();
        }

        return stream.ToArray();
    }

    private static async Task<HttpClient> TenantClientAsync(MaasTestServer server) => (await TenantClientAsync(server, [])).Client;

    private static async Task<(string Tenant, HttpClient Client)> TenantClientAsync(MaasTestServer server, params string[] moreScopes)
    {
        var (tenant, key) = await TenantKeyAsync(server, moreScopes);
        return (tenant, server.CreateClient(key));
    }

    /// <summary>A new tenant and a key of it with the training scopes and <paramref name="moreScopes"/>.</summary>
    private static async Task<(string Tenant, string Key)> TenantKeyAsync(MaasTestServer server, params string[] moreScopes)
    {
        var tenant = await server.NewTenantAsync();
        return (tenant, await server.NewKeyAsync(tenant, moreScopes.Append(MaasScopes.TrainingWrite).Append(MaasScopes.TrainingRead)));
    }
}
