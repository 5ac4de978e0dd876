using System.Net;
using Maas.Server.TensorInference.Demo;
using Maas.Server.Tests.Support;

namespace Maas.Server.Tests.TensorInference;

/// <summary>The first-run demo model: registered on an empty registry, callable at once, not duplicated on restart.</summary>
public sealed class DemoModelTests
{
    [Fact]
    public async Task A_first_start_registers_a_demo_model_a_user_can_call_at_once()
    {
        using var data = new TempDirectory("maas-demo");
        var settings = new Dictionary<string, string?> { ["Maas:Inference:Demo"] = "true" };
        await using (var server = await MaasTestServer.StartAsync(settings: settings, dataDir: data.Path))
        {
            var (status, body, _) = await server.Client.PostJsonAsync($"/v2/models/{DemoModel.Name}/infer",
                """{"inputs":[{"name":"input","shape":[2,4],"datatype":"FP32","data":[[5.1,3.5,1.4,0.2],[6.7,3.0,5.2,2.3]]}]}""");
            Assert.True(status == HttpStatusCode.OK, body.ToString());
            var probabilities = body.GetProperty("outputs")[0].GetProperty("data").EnumerateArray().Select(e => e.GetSingle()).ToArray();
            Assert.Equal(6, probabilities.Length);
            Assert.Equal(1f, probabilities[..3].Sum(), 3);
            var (metaStatus, meta) = await server.Client.GetJsonAsync($"/v2/models/{DemoModel.Name}");
            Assert.Equal(HttpStatusCode.OK, metaStatus);
            Assert.Equal("[-1,4]", meta.GetProperty("inputs")[0].GetProperty("shape").GetRawText());
        }

        await using (var restarted = await MaasTestServer.StartAsync(settings: settings, dataDir: data.Path))
        {
            var (_, versions) = await restarted.Client.GetJsonAsync($"/api/v1/models/{DemoModel.Name}/versions");
            Assert.Equal(HttpStatusCode.OK, (await restarted.Client.GetAsync($"/v2/models/{DemoModel.Name}/ready")).StatusCode);
            Assert.Contains("\"version\":1", versions.GetRawText().Replace(" ", ""));
            Assert.DoesNotContain("\"version\":2", versions.GetRawText().Replace(" ", ""));
            Assert.Equal(HttpStatusCode.NoContent, (await restarted.Client.DeleteAsync($"/api/v1/models/{DemoModel.Name}?force=true")).StatusCode);
        }

        // A user who deleted the demo does not get it back.
        await using (var again = await MaasTestServer.StartAsync(settings: settings, dataDir: data.Path))
        {
            Assert.Equal(HttpStatusCode.NotFound, (await again.Client.GetAsync($"/v2/models/{DemoModel.Name}")).StatusCode);
        }
    }

    [Fact]
    public void The_demo_model_is_the_same_bytes_on_every_build()
    {
        Assert.Equal(DemoModel.Build(), DemoModel.Build());
    }
}
