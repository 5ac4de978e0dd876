using System.Text;
using System.Text.Json.Nodes;
using Maas.Core.Llm;
using Maas.Core.Tenancy;
using Maas.Server.Auth;
using Maas.Server.Errors;
using Maas.Server.FineTuning;
using Maas.Server.OpenAi;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Maas.Server.Tests.OpenAi;

/// <summary>
/// Every 429 on /v1 has one of OpenAI's types for it: <c>tokens</c> for a limit on tokens, <c>insufficient_quota</c> for a
/// spent quota, <c>requests</c> for every other limit; and the fine-tuning routes' OpenAI errors made from the API's own
/// keep its extra fields.
/// </summary>
public sealed class OpenAiLimitTypeTests
{
    [Theory]
    [InlineData(LimitKind.RequestsPerMinute, "requests")]
    [InlineData(LimitKind.ConcurrentRequests, "requests")]
    [InlineData(LimitKind.TokensPerMinute, "tokens")]
    [InlineData(LimitKind.DailyTokens, "insufficient_quota")]
    [InlineData(LimitKind.MonthlyTokens, "insufficient_quota")]
    [InlineData(LimitKind.DailyComputeSeconds, "insufficient_quota")]
    [InlineData(LimitKind.MonthlyComputeSeconds, "insufficient_quota")]
    public void A_key_or_tenant_limit_has_the_type_of_its_kind_and_keeps_its_code(LimitKind kind, string type)
    {
        var now = DateTimeOffset.UnixEpoch;
        var failure = AuthErrors.RateLimited(new LimitRejection(kind, "key", 3, 3, now.AddSeconds(10)), now);
        var error = OpenAiBody(failure);
        Assert.Equal(type, (string?)error["type"]);
        Assert.Equal(type == "insufficient_quota" ? "quota_exceeded" : "rate_limit_exceeded", (string?)error["code"]);
        Assert.Equal(3, (int?)error["value"]);
    }

    [Theory]
    [InlineData("too_many_failed_attempts")]
    [InlineData("connection_rate_limited")]
    public void The_servers_own_request_limits_are_requests(string code)
    {
        var error = OpenAiBody(new AuthFailure(429, code, "slow down", RetryAfter: TimeSpan.FromSeconds(2)));
        Assert.Equal("requests", (string?)error["type"]);
        Assert.Equal(code, (string?)error["code"]);
        Assert.Equal(2, (int?)error["retry_after_seconds"]);
    }

    [Theory]
    [InlineData("queue_full", "requests")]
    [InlineData("token_budget_exceeded", "tokens")]
    [InlineData("memory_quota_exceeded", "insufficient_quota")]
    public void A_full_model_queue_token_budget_or_memory_quota_is_429_with_the_type_of_what_ran_out(string code, string type)
    {
        var refusal = new LlmException(LlmErrorKind.QueueFull, "busy", code: code) { RetryAfter = TimeSpan.FromSeconds(1) };
        Assert.Equal((429, type), OpenAiErrors.Classify(refusal));
        var error = JsonNode.Parse(OpenAiErrors.Body(refusal))!["error"]!;
        Assert.Equal(type, (string?)error["type"]);
        Assert.Equal(code, (string?)error["code"]);
    }

    [Fact]
    public async Task The_tenants_job_limit_on_fine_tuning_is_requests_with_its_limit_and_no_retry()
    {
        var (status, error, context) = await FilteredAsync(new ApiException(
            429, Maas.Server.Jobs.JobSubmission.TooManyJobsCode, "too many", new Dictionary<string, object?> { ["limit"] = 2 }));
        Assert.Equal(429, status);
        Assert.Equal("requests", (string?)error["type"]);
        Assert.Equal("too_many_jobs", (string?)error["code"]);
        Assert.Equal(2, (int?)error["limit"]);
        Assert.Equal("false", context.Response.Headers[AuthErrors.ShouldRetryHeader].ToString());
    }

    [Fact]
    public async Task An_api_error_mapped_for_fine_tuning_keeps_its_details_beside_openais_fields()
    {
        // Details such as a limit were dropped on the way to OpenAI's format; OpenAI's own four fields stay the error's.
        var details = new Dictionary<string, object?> { ["limit"] = 7, ["setting"] = "Maas:Example", ["message"] = "not this", ["code"] = "nor this" };
        var (status, error, _) = await FilteredAsync(new ApiException(409, "example_conflict", "it conflicts", details));
        Assert.Equal(409, status);
        Assert.Equal("invalid_request_error", (string?)error["type"]);
        Assert.Equal("example_conflict", (string?)error["code"]);
        Assert.Equal("it conflicts", (string?)error["message"]);
        Assert.True(error.AsObject().ContainsKey("param") && error["param"] is null);
        Assert.Equal(7, (int?)error["limit"]);
        Assert.Equal("Maas:Example", (string?)error["setting"]);

        // A 429 of the API's (an upload-sessions limit) is a limit on requests, with its limit too.
        (status, error, _) = await FilteredAsync(new ApiException(429, "too_many_upload_sessions", "too many", new Dictionary<string, object?> { ["limit"] = 4 }));
        Assert.Equal((429, "requests", 4), (status, (string?)error["type"], (int?)error["limit"]));

        // A registry refusal of the caller's input keeps its details as well.
        var invalid = new Maas.Core.Registry.RegistryException(Maas.Core.Registry.RegistryErrorKind.Invalid, "invalid_name", "bad name",
            new Dictionary<string, object?> { ["max_length"] = 64 });
        (status, error, _) = await FilteredAsync(invalid);
        Assert.Equal((400, "invalid_request_error", 64), (status, (string?)error["type"], (int?)error["max_length"]));
    }

    private static JsonNode OpenAiBody(AuthFailure failure) =>
        JsonNode.Parse(AuthErrors.Body(ErrorStyle.OpenAi, failure))!["error"]!;

    // Runs the fine-tuning routes' error filter over a handler that throws, and reads the answer it writes.
    private static async Task<(int Status, JsonNode Error, HttpContext Context)> FilteredAsync(Exception thrown)
    {
        var context = new DefaultHttpContext { RequestServices = new ServiceCollection().AddLogging().BuildServiceProvider() };
        context.Response.Body = new MemoryStream();
        var result = await OpenAiApiError.FilterAsync(
            new DefaultEndpointFilterInvocationContext(context), _ => throw thrown, NullLogger.Instance);
        await Assert.IsAssignableFrom<IResult>(result).ExecuteAsync(context);
        var text = Encoding.UTF8.GetString(((MemoryStream)context.Response.Body).ToArray());
        return (context.Response.StatusCode, JsonNode.Parse(text)!["error"]!, context);
    }
}
