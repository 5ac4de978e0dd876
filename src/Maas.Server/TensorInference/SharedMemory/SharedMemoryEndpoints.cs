using System.Text.Json;
using Maas.Core.Tenancy;
using Maas.Server.Auth;
using Maas.Server.Errors;
using Maas.Server.TensorInference.Rest;

namespace Maas.Server.TensorInference.SharedMemory;

/// <summary>
/// Triton's system shared memory extension over REST: status, register and unregister of a tenant's regions, errors
/// as {"error": "..."} like the rest of /v2.
/// </summary>
internal static class SharedMemoryEndpoints
{
    // A register request is three fields; anything much larger is not one.
    private const int MaxRegisterBodyBytes = 64 * 1024;

    /// <summary>Maps /v2/systemsharedmemory/...; every route needs the infer scope, as the calls that use the regions do.</summary>
    public static void Map(IEndpointRouteBuilder app)
    {
        var shm = app.MapGroup("/v2/systemsharedmemory").WithTags("inference").RequireScope(MaasScopes.Infer);
        shm.MapGet("/status", (HttpContext ctx, InferenceCallServices call) => StatusAsync(ctx, call.SharedMemory, null));
        shm.MapGet("/region/{region}/status", (HttpContext ctx, InferenceCallServices call, string region) => StatusAsync(ctx, call.SharedMemory, region));
        shm.MapPost("/region/{region}/register", (HttpContext ctx, InferenceCallServices call, string region) => RegisterAsync(ctx, call.SharedMemory, region));
        shm.MapPost("/unregister", (HttpContext ctx, InferenceCallServices call) => UnregisterAsync(ctx, call.SharedMemory, null));
        shm.MapPost("/region/{region}/unregister", (HttpContext ctx, InferenceCallServices call, string region) => UnregisterAsync(ctx, call.SharedMemory, region));
    }

    private static Task StatusAsync(HttpContext ctx, SystemSharedMemoryRegistry registry, string? region) => V2Endpoints.Guard(ctx, async () =>
    {
        var regions = registry.Status(ctx.CallerTenant(), region);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = V2Endpoints.JsonEncoder }))
        {
            w.WriteStartArray();
            foreach (var r in regions)
            {
                w.WriteStartObject();
                w.WriteString("name", r.Name);
                w.WriteString("key", r.Key);
                w.WriteNumber("offset", r.Offset);
                w.WriteNumber("byte_size", r.ByteSize);
                w.WriteEndObject();
            }

            w.WriteEndArray();
        }

        ctx.Response.StatusCode = StatusCodes.Status200OK;
        ctx.Response.ContentType = "application/json";
        ctx.Response.ContentLength = buffer.WrittenCount;
        await ctx.Response.Body.WriteAsync(buffer.WrittenMemory, ctx.RequestAborted);
    });

    private static Task RegisterAsync(HttpContext ctx, SystemSharedMemoryRegistry registry, string region) => V2Endpoints.Guard(ctx, async () =>
    {
        if (!registry.Enabled)
        {
            throw SystemSharedMemoryRegistry.Disabled();
        }

        var (key, offset, byteSize) = await ReadRegisterRequestAsync(ctx);
        registry.Register(ctx.CallerTenant(), region, key, offset, byteSize);
        ctx.Response.StatusCode = StatusCodes.Status200OK;
        ctx.Response.ContentLength = 0;
    });

    private static Task UnregisterAsync(HttpContext ctx, SystemSharedMemoryRegistry registry, string? region) => V2Endpoints.Guard(ctx, () =>
    {
        registry.Unregister(ctx.CallerTenant(), region);
        ctx.Response.StatusCode = StatusCodes.Status200OK;
        ctx.Response.ContentLength = 0;
        return Task.CompletedTask;
    });

    // {"key": "/name", "offset": n, "byte_size": n}; offset may be left out (0).
    private static async Task<(string Key, long Offset, long ByteSize)> ReadRegisterRequestAsync(HttpContext ctx)
    {
        if (ctx.Request.ContentLength > MaxRegisterBodyBytes)
        {
            throw InferenceErrors.Invalid($"a register request's body is at most {MaxRegisterBodyBytes} bytes, not {ctx.Request.ContentLength}");
        }

        var buffer = new byte[MaxRegisterBodyBytes + 1];
        var length = await ctx.Request.Body.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, ctx.RequestAborted);
        if (length > MaxRegisterBodyBytes)
        {
            throw InferenceErrors.Invalid($"a register request's body is at most {MaxRegisterBodyBytes} bytes");
        }

        try
        {
            using var document = JsonDocument.Parse(buffer.AsMemory(0, length), new JsonDocumentOptions { AllowDuplicateProperties = false });
            var body = V2Endpoints.ObjectBody(document);
            var key = body.TryGetProperty("key", out var k) && k.ValueKind == JsonValueKind.String
                ? k.GetString()!
                : throw InferenceErrors.Invalid("the register request needs \"key\": the shared memory object's name, e.g. \"/input0\"");
            var byteSize = body.TryGetProperty("byte_size", out var s) && s.ValueKind == JsonValueKind.Number && s.TryGetInt64(out var size)
                ? size
                : throw InferenceErrors.Invalid("the register request needs \"byte_size\": the region's size in bytes, an integer");
            long offset = 0;
            if (body.TryGetProperty("offset", out var o) && (o.ValueKind != JsonValueKind.Number || !o.TryGetInt64(out offset)))
            {
                throw InferenceErrors.Invalid("the register request's \"offset\" must be an integer (bytes into the object)");
            }

            return (key, offset, byteSize);
        }
        catch (JsonException ex)
        {
            throw InferenceErrors.Invalid(JsonBodyErrors.Describe("malformed JSON in the request body", ex));
        }
        catch (InvalidOperationException ex)
        {
            throw TensorJson.UnreadableText(ex);
        }
    }
}
