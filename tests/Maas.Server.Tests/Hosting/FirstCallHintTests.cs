using System.Diagnostics;
using System.Text.Json.Nodes;
using Maas.Server.Tests.Support;
using Maas.Testing;
using Microsoft.Extensions.Logging;

namespace Maas.Server.Tests.Hosting;

/// <summary>The first-start "Try: curl ..." lines, run as printed, answer with the model's output rather than 401.</summary>
public sealed class FirstCallHintTests
{
    [ToolFact("/usr/bin/curl", "Debian package curl")]
    public async Task The_suggested_curl_commands_authenticate_and_get_answers()
    {
        var logs = new CapturedLogs();
        var settings = new Dictionary<string, string?>
        {
            ["Maas:Auth:AdminKey"] = "", // a first start that generates the admin key and its file, as a new user has
            ["Maas:Inference:Demo"] = "true",
            ["Maas:Llm:Demo"] = "true",
            ["Maas:Llm:ContextPerSlot"] = "256",
            ["Maas:Llm:Threads"] = "1",
            ["Logging:LogLevel:Maas.Server"] = "Information", // the hints are Information lines
        };
        await using var server = await MaasTestServer.StartAsync(settings: settings, configure: b => b.Logging.AddProvider(logs));

        var infer = await WaitForHintAsync(logs, "demo model");
        Assert.Contains("Authorization: Bearer", infer, StringComparison.Ordinal);
        var answer = JsonNode.Parse(await RunAsync(infer))!;
        Assert.Equal("[1,3]", answer["outputs"]![0]!["shape"]!.ToJsonString());

        var chat = await WaitForHintAsync(logs, "plumbing-demo LLM");
        Assert.Contains(server.BaseAddress.ToString().TrimEnd('/'), chat, StringComparison.Ordinal);
        var stream = await RunAsync(chat);
        Assert.Contains("data: [DONE]", stream, StringComparison.Ordinal);
        Assert.Contains("chat.completion.chunk", stream, StringComparison.Ordinal);
    }

    private static async Task<string> WaitForHintAsync(CapturedLogs logs, string what)
    {
        // The hints are logged once the listener is up, which can be just after StartAsync returns.
        var line = await Conditions.ReadUntilAsync(
            () => Task.FromResult(logs.Lines.Select(l => l.Message)
                .FirstOrDefault(m => m.Contains(what, StringComparison.Ordinal) && m.Contains("Try: ", StringComparison.Ordinal))),
            found => found is not null,
            $"a hint about the {what} is logged");
        var hint = line!;
        return hint[(hint.IndexOf("Try: ", StringComparison.Ordinal) + 5)..];
    }

    private static async Task<string> RunAsync(string command)
    {
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(command + " --fail-with-body --max-time 120");
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{command}\nexit {process.ExitCode}: {await output} {await error}");
        return await output;
    }
}
