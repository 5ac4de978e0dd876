using System.Net;
using Maas.Core.Tenancy;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.Tenancy;

namespace Maas.Server.Tests.Registry;

/// <summary>A tenant's serving configuration stays within the server-wide maxima of Maas:ServingLimits.</summary>
public sealed class ServingLimitsTests
{
    [Fact]
    public async Task Settings_above_the_servers_maxima_get_400_naming_each_maximum()
    {
        await using var host = await TenancyHost.StartAsync(new Dictionary<string, string?>
        {
            ["Maas:ServingLimits:MaxInstanceCount"] = "2",
            ["Maas:ServingLimits:MaxThreads"] = "4",
            ["Maas:ServingLimits:MaxTotalThreads"] = "6",
            ["Maas:ServingLimits:MaxKvTokens"] = "65536",
        });
        var (_, _, client) = await host.TenantWithKeyAsync(MaasScopes.ModelsRead, MaasScopes.ModelsWrite);
        using (client)
        {
            var name = await client.CreateModelAsync();
            var config = $"api/v1/models/{name}/config";

            using (var instances = await client.PutAsync(config, Api.Json("""{"instance_count": 3}""")))
            {
                var error = await instances.ErrorAsync(HttpStatusCode.BadRequest, "invalid_config");
                Assert.Contains("instance_count = 3 is above the server's maximum of 2 (Maas:ServingLimits:MaxInstanceCount)", (string?)error["message"]);
            }

            using (var threads = await client.PutAsync(config, Api.Json("""{"instance_count": 2, "threads": 4}""")))
            {
                var error = await threads.ErrorAsync(HttpStatusCode.BadRequest, "invalid_config");
                Assert.Contains("instance_count x threads = 8 is above the server's maximum of 6 threads per model (Maas:ServingLimits:MaxTotalThreads)",
                    (string?)error["message"]);
            }

            // 1024 x 4194304 overflows a 32-bit product; the check multiplies in 64 bits.
            using (var kv = await client.PutAsync(config, Api.Json("""{"parallel_sequences": 1024, "context_size": 131072}""")))
            {
                var error = await kv.ErrorAsync(HttpStatusCode.BadRequest, "invalid_config");
                var message = (string?)error["message"];
                Assert.Contains("parallel_sequences = 1024 is above the server's maximum of 64 (Maas:ServingLimits:MaxParallelSequences)", message);
                Assert.Contains("parallel_sequences x context_size = 134217728 KV cache tokens is above the server's maximum of 65536 (Maas:ServingLimits:MaxKvTokens)", message);
            }

            using var within = await client.PutAsync(config, Api.Json("""{"instance_count": 2, "threads": 3, "parallel_sequences": 4, "context_size": 16384}"""));
            await within.JsonAsync(HttpStatusCode.OK);
        }
    }

    [Fact]
    public async Task Embedding_queue_settings_are_checked_as_the_other_queue_settings_are()
    {
        await using var host = await TenancyHost.StartAsync(new Dictionary<string, string?>
        {
            ["Maas:ServingLimits:MaxQueueLimit"] = "100",
            ["Maas:ServingLimits:MaxTimeoutMs"] = "5000",
        });
        var (_, _, client) = await host.TenantWithKeyAsync(MaasScopes.ModelsRead, MaasScopes.ModelsWrite);
        using (client)
        {
            var name = await client.CreateModelAsync();
            var config = $"api/v1/models/{name}/config";

            using (var range = await client.PutAsync(config, Api.Json("""{"embedding_queue_limit": -1, "embedding_queue_timeout_ms": 0}""")))
            {
                var error = await range.ErrorAsync(HttpStatusCode.BadRequest, "invalid_config");
                var message = (string?)error["message"];
                Assert.Contains("embedding_queue_limit must be between 0 and 1000000, not -1", message);
                Assert.Contains("embedding_queue_timeout_ms must be between 1 and 3600000, not 0", message);
            }

            using (var above = await client.PutAsync(config, Api.Json("""{"embedding_queue_limit": 101, "embedding_queue_timeout_ms": 5001}""")))
            {
                var error = await above.ErrorAsync(HttpStatusCode.BadRequest, "invalid_config");
                var message = (string?)error["message"];
                Assert.Contains("embedding_queue_limit = 101 is above the server's maximum of 100 (Maas:ServingLimits:MaxQueueLimit)", message);
                Assert.Contains("embedding_queue_timeout_ms = 5001 is above the server's maximum of 5000 (Maas:ServingLimits:MaxTimeoutMs)", message);
            }

            using var within = await client.PutAsync(config, Api.Json("""{"embedding_queue_limit": 0, "embedding_queue_timeout_ms": 5000}"""));
            var stored = await within.JsonAsync(HttpStatusCode.OK);
            Assert.Equal(0, (int)stored["embedding_queue_limit"]!);
            Assert.Equal(5000, (int)stored["embedding_queue_timeout_ms"]!);
        }
    }
}
