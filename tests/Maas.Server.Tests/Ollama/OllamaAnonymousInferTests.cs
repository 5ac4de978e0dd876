using System.Net;
using Maas.Server.Tests.Tenancy;

namespace Maas.Server.Tests.Ollama;

/// <summary>Maas:Auth:AllowAnonymousInfer lets a loopback caller without a key use the Ollama routes as it may use /v1, nothing more.</summary>
public sealed class OllamaAnonymousInferTests
{
    [Fact]
    public async Task A_loopback_caller_without_a_key_may_list_and_call_but_not_manage()
    {
        await using var host = await TenancyHost.StartAsync(new Dictionary<string, string?> { ["Maas:Auth:AllowAnonymousInfer"] = "true", ["Maas:Llm:Demo"] = "false" });
        using var anonymous = host.Client(null);
        using (var tags = await anonymous.GetAsync("/api/tags"))
        {
            Assert.Equal(HttpStatusCode.OK, tags.StatusCode);
        }

        // Past the gate: the model is what is missing, not the key.
        using (var chat = await OllamaServerFixture.PostAsync(anonymous, "/api/chat", """{"model": "ghost", "messages": [{"role": "user", "content": "hi"}]}"""))
        {
            await OllamaServerFixture.ErrorAsync(chat, HttpStatusCode.NotFound);
        }

        using (var keys = await anonymous.GetAsync("/api/v1/keys"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, keys.StatusCode);
        }
    }
}
