using System.Diagnostics;
using System.Text.Json;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.Tenancy;

namespace Maas.Server.Tests.Ollama;

/// <summary>
/// The official <c>ollama</c> JavaScript client (from npm, pinned, installed into the test's own temp folder) driving
/// MaaS: list, show, ps, version, chat whole and streamed, generate (and again from its context), embed, and an unknown
/// model as its ResponseError.
/// </summary>
[Collection(OllamaServerCollection.Name)]
public sealed class OllamaJsClientTests(OllamaServerFixture fixture)
{
    /// <summary>The client version the test installs.</summary>
    public const string ClientVersion = "0.6.4";

    private const string Script = """
        import { Ollama } from 'ollama';
        const [host, key] = process.argv.slice(2);
        const ollama = new Ollama({ host, headers: { Authorization: `Bearer ${key}` } });
        const messages = [{ role: 'user', content: 'Say hello.' }];
        const options = { num_predict: 6, temperature: 0.7, seed: 11 };
        const out = {};
        out.version = (await ollama.version()).version;
        out.tags = (await ollama.list()).models.map(m => m.name);
        const whole = await ollama.chat({ model: 'gen:stable', messages, options });
        out.chat = { content: whole.message.content, done: whole.done, done_reason: whole.done_reason, eval_count: whole.eval_count };
        let content = '', parts = 0, last = null;
        for await (const part of await ollama.chat({ model: 'gen:stable', messages, options, stream: true })) {
          content += part.message.content; parts++; last = part;
        }
        out.stream = { content, parts, done: last.done, eval_count: last.eval_count };
        const generated = await ollama.generate({ model: 'gen', prompt: 'Hello', options: { num_predict: 3 } });
        out.generate = { response: generated.response, done: generated.done, done_reason: generated.done_reason, eval_count: generated.eval_count,
        prompt_eval_count: generated.prompt_eval_count, context: generated.context };
        const followed = await ollama.generate({ model: 'gen', prompt: 'More', context: generated.context, options: { num_predict: 3 } });
        out.followed = { prompt_eval_count: followed.prompt_eval_count, context: followed.context };
        out.embed = (await ollama.embed({ model: 'gen', input: ['one', 'two'] })).embeddings.map(e => e.length);
        out.show = (await ollama.show({ model: 'gen' })).details.format;
        out.ps = (await ollama.ps()).models.map(m => m.name);
        try {
          await ollama.chat({ model: 'ghost', messages });
          out.error = null;
        } catch (e) {
          out.error = { status: e.status_code, message: e.error ?? e.message };
        }
        console.log(JSON.stringify(out));
        """;

    [NpmFact]
    public async Task The_official_javascript_client_lists_chats_streams_generates_embeds_and_reads_errors()
    {
        using var folder = new TempDirectory("maas-ollama-js");
        await File.WriteAllTextAsync(Path.Combine(folder.Path, "package.json"), """{"name": "maas-ollama-js-test", "private": true, "type": "module"}""");
        var install = await RunAsync(folder.Path, "npm", ["install", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error", $"ollama@{ClientVersion}"],
            TimeSpan.FromMinutes(5));
        Assert.True(install.ExitCode == 0, $"npm install ollama@{ClientVersion}: exit {install.ExitCode}\n{install.Output}\n{install.Error}");
        await File.WriteAllTextAsync(Path.Combine(folder.Path, "drive.mjs"), Script);

        var host = fixture.Host.Server.BaseAddress.ToString().TrimEnd('/');
        var run = await RunAsync(folder.Path, "node", ["drive.mjs", host, TenancyHost.AdminKey], TimeSpan.FromMinutes(3));
        Assert.True(run.ExitCode == 0, $"node drive.mjs: exit {run.ExitCode}\n{run.Output}\n{run.Error}");
        var report = JsonDocument.Parse(run.Output.Trim().Split('\n')[^1]).RootElement;

        Assert.NotEmpty(report.GetProperty("version").GetString()!);
        var tags = report.GetProperty("tags").EnumerateArray().Select(t => t.GetString()).ToList();
        Assert.Contains("gen:latest", tags);
        Assert.Contains("gen:stable", tags);

        var chat = report.GetProperty("chat");
        Assert.True(chat.GetProperty("done").GetBoolean());
        Assert.InRange(chat.GetProperty("eval_count").GetInt32(), 1, 6);
        var stream = report.GetProperty("stream");
        Assert.True(stream.GetProperty("done").GetBoolean());
        Assert.True(stream.GetProperty("parts").GetInt32() >= 2);
        // The same seed, whole or streamed through the client: the same text.
        Assert.Equal(chat.GetProperty("content").GetString(), stream.GetProperty("content").GetString());
        Assert.Equal(chat.GetProperty("eval_count").GetInt32(), stream.GetProperty("eval_count").GetInt32());

        var generate = report.GetProperty("generate");
        Assert.True(generate.GetProperty("done").GetBoolean());

        // The context the client got back holds the prompt and the answer: every generated token when num_predict ended
        // it (those of a byte that made no whole character included), fewer if a stop string was cut from the text.
        // Sent again, the next prompt follows it.
        var context = generate.GetProperty("context").EnumerateArray().Select(t => t.GetInt32()).ToArray();
        var promptTokens = generate.GetProperty("prompt_eval_count").GetInt32();
        var evalCount = generate.GetProperty("eval_count").GetInt32();
        if (generate.GetProperty("done_reason").GetString() == "length")
        {
            Assert.True(promptTokens + evalCount == context.Length, generate.ToString());
        }

        Assert.InRange(context.Length, promptTokens, promptTokens + evalCount);
        var followed = report.GetProperty("followed");
        var next = followed.GetProperty("context").EnumerateArray().Select(t => t.GetInt32()).ToArray();
        Assert.Equal(context, next[..context.Length]);
        Assert.True(followed.GetProperty("prompt_eval_count").GetInt32() > context.Length, followed.ToString());
        var widths = report.GetProperty("embed").EnumerateArray().Select(w => w.GetInt32()).ToList();
        Assert.Equal(2, widths.Count);
        Assert.True(widths[0] > 0 && widths[0] == widths[1]);
        Assert.Equal("gguf", report.GetProperty("show").GetString());
        Assert.Contains("gen:1", report.GetProperty("ps").EnumerateArray().Select(m => m.GetString()));

        var error = report.GetProperty("error");
        Assert.Equal(404, error.GetProperty("status").GetInt32());
        Assert.Contains("ghost", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    private static async Task<(int ExitCode, string Output, string Error)> RunAsync(string directory, string file, string[] arguments, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(file)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["npm_config_update_notifier"] = "false";
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{file} did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', arguments)} ran longer than {timeout}: {await error}");
        }

        return (process.ExitCode, await output, await error);
    }
}

/// <summary>A fact that needs node and npm on the PATH (it installs and runs the ollama JavaScript client); skipped with the reason when absent.</summary>
public sealed class NpmFactAttribute : FactAttribute
{
    public NpmFactAttribute()
    {
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        if (!path.Any(dir => File.Exists(Path.Combine(dir, "npm"))) || !path.Any(dir => File.Exists(Path.Combine(dir, "node"))))
        {
            Skip = "needs node and npm on the PATH (it installs the ollama JavaScript client from npm)";
        }
    }
}
