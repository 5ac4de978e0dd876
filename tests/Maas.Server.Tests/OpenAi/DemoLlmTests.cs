using Maas.Server.OpenAi.Demo;
using Maas.Server.Tests.Support;
using OpenAI.Chat;

namespace Maas.Server.Tests.OpenAi;

/// <summary>The first-run demo LLM: registered on a fresh data folder, streams a chat at once, not re-added after deletion.</summary>
public sealed class DemoLlmTests
{
    [Fact]
    public async Task A_first_start_registers_a_demo_llm_that_streams_a_chat()
    {
        using var data = new TempDirectory("maas-demo-llm");
        var settings = new Dictionary<string, string?> { ["Maas:Llm:Demo"] = "true", ["Maas:Llm:ContextPerSlot"] = "256" };
        await using (var server = await MaasTestServer.StartAsync(settings: settings, dataDir: data.Path))
        {
            var chat = LlmServerFixture.ClientFor(server).GetChatClient(LlmDemoModel.Name);
            var chunks = 0;
            await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("Hello!")], new ChatCompletionOptions { MaxOutputTokenCount = 8 }))
            {
                chunks += update.ContentUpdate.Count;
            }

            Assert.True(chunks > 0);
            var model = await server.Client.GetStringAsync($"/api/v1/models/{LlmDemoModel.Name}");
            Assert.Contains("demo", model, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("random weights", model, StringComparison.Ordinal);
            using var deleted = await server.Client.DeleteAsync($"/api/v1/models/{LlmDemoModel.Name}?force=true");
            Assert.True(deleted.IsSuccessStatusCode, await deleted.Content.ReadAsStringAsync());
        }

        await using (var restarted = await MaasTestServer.StartAsync(settings: settings, dataDir: data.Path))
        {
            using var response = await restarted.Client.GetAsync($"/api/v1/models/{LlmDemoModel.Name}");
            Assert.Equal(System.Net.HttpStatusCode.NotFound, response.StatusCode); // a deleted demo stays deleted
        }
    }
}
