using System.Text.Json;
using Maas.Server.OpenAi.Demo;
using Maas.Server.Tests.Support;
using OpenAI.Chat;

namespace Maas.Server.Tests.OpenAi;

/// <summary>Server-wide engine settings (Maas:Llm) reach the engines that load (bad ones: Hosting/StartupConfigurationTests).</summary>
public sealed class EngineSettingsTests
{
    [Theory]
    [InlineData("true", "batched", "unified", "batched")]
    [InlineData("true", null, "unified", "staggered")] // auto staggers with a unified buffer
    [InlineData("false", "staggered", "per-slot", "staggered")]
    public async Task The_kv_layout_and_prompt_admission_settings_reach_the_engine(string unified, string? admission, string kvCache, string expectedAdmission)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Maas:Llm:Demo"] = "true",
            ["Maas:Llm:ContextPerSlot"] = "256",
            ["Maas:Llm:UnifiedKvCache"] = unified,
        };
        if (admission is not null)
        {
            settings["Maas:Llm:PromptAdmission"] = admission;
        }

        await using var server = await MaasTestServer.StartAsync(settings: settings);
        var chat = LlmServerFixture.ClientFor(server).GetChatClient(LlmDemoModel.Name);
        ChatCompletion completion = await chat.CompleteChatAsync([new UserChatMessage("Hello!")], new ChatCompletionOptions { MaxOutputTokenCount = 4 });
        Assert.True(completion.Usage.OutputTokenCount > 0);

        using var engines = JsonDocument.Parse(await server.Client.GetStringAsync("/api/v1/llm/engines"));
        var engine = engines.RootElement.EnumerateArray().Single();
        Assert.Equal(kvCache, engine.GetProperty("info").GetProperty("kv_cache").GetString());
        Assert.Equal(expectedAdmission, engine.GetProperty("info").GetProperty("prompt_admission").GetString());
        Assert.True(engine.GetProperty("statistics").GetProperty("prompt_steps").GetInt64() >= 1);
    }
}
