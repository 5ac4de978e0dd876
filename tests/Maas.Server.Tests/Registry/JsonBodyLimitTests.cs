using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Maas.Server.Tests.Support;
using Microsoft.Extensions.Options;

namespace Maas.Server.Tests.Registry;

/// <summary>
/// The management API's JSON bodies (and the fine-tuning jobs' body) are held to one setting,
/// Maas:Api:MaxJsonBodyBytes: a body over it is 413 request_too_large naming the setting and its value, whether its
/// length was declared or not.
/// </summary>
public sealed class JsonBodyLimitTests : IAsyncLifetime
{
    private const int Limit = 2048;

    private MaasTestServer _server = null!;

    public async Task InitializeAsync() =>
        _server = await MaasTestServer.StartAsync(
        settings: new Dictionary<string, string?> { ["Maas:Api:MaxJsonBodyBytes"] = Limit.ToString(System.Globalization.CultureInfo.InvariantCulture) });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static string ModelBody(int descriptionLength) =>
        $$"""{"name": "{{Names.Unique()}}", "description": "{{new string('d', descriptionLength)}}"}""";

    [Fact]
    public async Task A_management_body_over_the_configured_limit_is_413_naming_it()
    {
        var client = _server.Client;
        using (var fits = await client.PostAsync("api/v1/models", Api.Json(ModelBody(Limit - 200))))
        {
            await fits.JsonAsync(HttpStatusCode.Created);
        }

        foreach (var declared in new[] { true, false })
        {
            var body = ModelBody(Limit + 100);
            using var refused = await client.PostAsync("api/v1/models", declared ? Api.Json(body) : new UndeclaredLength(body));
            var error = await refused.ErrorAsync(HttpStatusCode.RequestEntityTooLarge, "request_too_large");
            Assert.Contains($"{Limit} bytes", (string?)error["message"], StringComparison.Ordinal);
            Assert.Contains("Maas:Api:MaxJsonBodyBytes", (string?)error["message"], StringComparison.Ordinal);
            Assert.Equal(Limit, (long?)error["limit_bytes"]);
        }
    }

    [Fact]
    public async Task A_fine_tuning_job_body_over_the_configured_limit_is_413_naming_it()
    {
        var body = $$"""{"model": "m", "training_file": "file-x", "suffix": "{{new string('s', Limit)}}"}""";
        foreach (var declared in new[] { true, false })
        {
            using var refused = await _server.Client.PostAsync("v1/fine_tuning/jobs", declared ? Api.Json(body) : new UndeclaredLength(body));
            var text = await refused.Content.ReadAsStringAsync();
            Assert.True(refused.StatusCode == HttpStatusCode.RequestEntityTooLarge, text);
            var error = JsonNode.Parse(text)!["error"]!;
            Assert.Equal("request_too_large", (string?)error["code"]);
            Assert.Contains($"{Limit} bytes", (string?)error["message"], StringComparison.Ordinal);
            Assert.Contains("Maas:Api:MaxJsonBodyBytes", (string?)error["message"], StringComparison.Ordinal);
            Assert.Equal(Limit, (long?)error["limit_bytes"]);
        }

        // Under the limit the body is read: the job is refused for what it says (no such file), not for its size.
        using var small = await _server.Client.PostAsync("v1/fine_tuning/jobs", Api.Json("""{"model": "m", "training_file": "file-x"}"""));
        Assert.NotEqual(HttpStatusCode.RequestEntityTooLarge, small.StatusCode);
    }

    [Theory]
    [InlineData("100")]
    [InlineData("2000000000")]
    public async Task A_limit_out_of_range_stops_the_start_naming_the_setting(string value)
    {
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() =>
            MaasTestServer.StartAsync(settings: new Dictionary<string, string?> { ["Maas:Api:MaxJsonBodyBytes"] = value }));
        Assert.Contains($"Maas:Api:MaxJsonBodyBytes must be between 1024 and 268435456, not {value}", error.Message, StringComparison.Ordinal);
    }

    // A body sent chunked, without Content-Length: only reading it finds its size.
    private sealed class UndeclaredLength : HttpContent
    {
        private readonly byte[] _bytes;

        public UndeclaredLength(string text)
        {
            _bytes = Encoding.UTF8.GetBytes(text);
            Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => stream.WriteAsync(_bytes).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
