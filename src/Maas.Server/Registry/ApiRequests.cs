using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Maas.Core.Registry;
using Maas.Core.Tenancy;
using Maas.Server.Auth;
using Maas.Server.Errors;
using Microsoft.AspNetCore.Http.Features;

namespace Maas.Server.Registry;

/// <summary>Reading what callers send: JSON bodies, numbers in the path, who they are.</summary>
internal static class ApiRequests
{
    // Strict: an unknown field is a typo the caller wants to hear about (e.g. "max_batch" for "max_batch_size"), and a
    // key given twice in any object is ambiguous (by default the last one would silently win).
    // A whole number past its field's range is said to be so (WholeNumberConverter), not "expected a whole number".
    private static readonly JsonSerializerOptions Strict = new(RegistryJson.Options)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        AllowDuplicateProperties = false,
        Converters =
        {
            new WholeNumberConverter<int>((ref Utf8JsonReader r, out int v) => r.TryGetInt32(out v)),
            new WholeNumberConverter<long>((ref Utf8JsonReader r, out long v) => r.TryGetInt64(out v)),
            new WholeNumberConverter<short>((ref Utf8JsonReader r, out short v) => r.TryGetInt16(out v)),
            new WholeNumberConverter<byte>((ref Utf8JsonReader r, out byte v) => r.TryGetByte(out v)),
            new WholeNumberConverter<uint>((ref Utf8JsonReader r, out uint v) => r.TryGetUInt32(out v)),
            new WholeNumberConverter<ulong>((ref Utf8JsonReader r, out ulong v) => r.TryGetUInt64(out v)),
        },
    };

    /// <summary>
    /// Reads a JSON body (at most Maas:Api:MaxJsonBodyBytes) into <typeparamref name="T"/>; 400/413/415 with a clear code
    /// otherwise (a key given twice in any object of the body is 400 invalid_json naming it).
    /// </summary>
    public static async Task<T> ReadJsonAsync<T>(HttpRequest request, CancellationToken cancellationToken)
        where T : class
    {
        if (request.ContentType is { } type && !type.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            throw new ApiException(StatusCodes.Status415UnsupportedMediaType, "unsupported_media_type", $"this route takes application/json, not '{type}'");
        }

        // The group's options (WithApiErrors); a route outside such a group gets the default.
        var limit = request.HttpContext.Features.Get<ApiOptions>()?.MaxJsonBodyBytes ?? ApiOptions.DefaultMaxJsonBodyBytes;
        using var buffer = await ReadBodyAsync(request, limit, cancellationToken);
        if (buffer.Length == 0)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "invalid_json", "a JSON body is required");
        }

        try
        {
            return JsonSerializer.Deserialize<T>(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), Strict)
                ?? throw new ApiException(StatusCodes.Status400BadRequest, "invalid_json", "the JSON body must be an object, not null");
        }
        catch (JsonException e)
        {
            var where = e.Path is { Length: > 1 } path ? $" at {path}" : "";
            var message = FirstSentence(e.Message);
            var reason = e is WholeNumberOutOfRangeException range
                ? range.Describe(e.Path is { } p && p.StartsWith("$.", StringComparison.Ordinal) ? p[2..] : e.Path ?? "$")
                : Explain(message, message.StartsWith(NotConverted, StringComparison.Ordinal) ? TargetType(message, typeof(T), e.Path) : null, e.Path);
            throw new ApiException(StatusCodes.Status400BadRequest, "invalid_json", $"the JSON body is invalid{where}: {reason}");
        }
    }

    /// <summary>
    /// The steps of a path the parser reports ($.a.b, $.a[2], $['a key']): a member's name, or null and an array
    /// index; null for a path of another shape.
    /// </summary>
    private static List<(string? Name, int Index)>? Segments(string? path)
    {
        if (string.IsNullOrEmpty(path) || path[0] != '$')
        {
            return null;
        }

        var steps = new List<(string? Name, int Index)>();
        var i = 1;
        while (i < path.Length)
        {
            if (path.AsSpan(i).StartsWith("['") && path.IndexOf("']", i + 2, StringComparison.Ordinal) is var close and > 0)
            {
                steps.Add((path[(i + 2)..close], -1));
                i = close + 2;
            }
            else if (path[i] == '[' && path.IndexOf(']', i) is var bracket and > 0
                && int.TryParse(path.AsSpan(i + 1, bracket - i - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            {
                steps.Add((null, index));
                i = bracket + 1;
            }
            else if (path[i] == '.')
            {
                var end = path.IndexOfAny(['.', '['], i + 1);
                end = end < 0 ? path.Length : end;
                steps.Add((path[(i + 1)..end], -1));
                i = end;
            }
            else
            {
                return null;
            }
        }

        return steps;
    }

    private static string FirstSentence(string message)
    {
        var end = message.IndexOf(". Path:", StringComparison.Ordinal);
        return end > 0 ? message[..end] : message;
    }

    private const string NotConverted = "The JSON value could not be converted to ";
    private const string NotMapped = "The JSON property '";
    private const string Duplicate = "Duplicate propert";

    /// <summary>
    /// The serializer's sentences name .NET types ("System.Nullable`1[System.Int64]", "Maas.Server.Registry.SetAliasRequest"),
    /// which say nothing to a caller of a JSON API: say what JSON was expected instead.
    /// </summary>
    private static string Explain(string message, string? type, string? path)
    {
        // A repeated key: an object's property names itself in the message, a dictionary's only in the path.
        if (message.StartsWith(Duplicate, StringComparison.Ordinal))
        {
            var name = message.IndexOf('\'') is var open and > 0 && message.IndexOf('\'', open + 1) is var close and > 0
                ? message[(open + 1)..close]
                : LastSegment(path);
            return $"'{RegistryNames.Shorten(name)}' is given more than once";
        }


        if (message.StartsWith(NotMapped, StringComparison.Ordinal) && message.IndexOf('\'', NotMapped.Length) is var end and > 0)
        {
            return $"unknown field '{RegistryNames.Shorten(message[NotMapped.Length..end])}'";
        }

        if (type is null)
        {
            return message;
        }

        return type switch
        {
            "System.String" => "expected a string",
            "System.Int32" or "System.Int64" or "System.UInt32" or "System.UInt64" or "System.Int16" or "System.Byte" => "expected a whole number",
            "System.Double" or "System.Single" or "System.Decimal" => "expected a number",
            "System.Boolean" => "expected true or false",
            "System.DateTimeOffset" or "System.DateTime" => "expected an ISO 8601 time such as \"2030-01-31T12:00:00Z\"",
            "System.String[]" => "expected a list of strings",
            _ when type.Contains("List`1", StringComparison.Ordinal) || type.EndsWith("[]", StringComparison.Ordinal) => "expected a list",
            _ when type.Contains("Dictionary`2", StringComparison.Ordinal) => "expected an object",
            _ => "this value has the wrong type",
        };
    }

    /// <summary>
    /// The .NET type of the value that could not be converted, without Nullable. The serializer's sentence names it for
    /// a property ("System.Nullable`1[System.Int32]") but names the record for a constructor parameter
    /// ("Maas.Server.Registry.SetAliasRequest"), so the type is found from <paramref name="body"/>'s contract and the
    /// path first, and from the sentence only when the path leads nowhere.
    /// </summary>
    private static string TargetType(string message, Type body, string? path)
    {
        Type? type;
        try
        {
            type = MemberType(body, path);
        }
        catch (Exception e) when (e is NotSupportedException or InvalidOperationException or ArgumentException)
        {
            type = null; // a contract the serializer cannot describe: the sentence's type is all there is
        }

        if (type is not null)
        {
            return (Nullable.GetUnderlyingType(type) ?? type).FullName ?? type.Name;
        }

        var named = message[NotConverted.Length..];
        if (!named.StartsWith("System.Nullable`1[", StringComparison.Ordinal))
        {
            return named;
        }

        named = named["System.Nullable`1[".Length..].TrimStart('[');
        return named[..named.IndexOfAny([',', ']'])];
    }

    // The type of the member at a path such as $.limits.concurrent_requests or $.files[0], by the body's JSON contract.
    private static Type? MemberType(Type body, string? path)
    {
        if (Segments(path) is not { } steps)
        {
            return null;
        }

        Type? type = body;
        foreach (var (name, _) in steps)
        {
            var info = Strict.GetTypeInfo(Nullable.GetUnderlyingType(type) ?? type);
            type = name is null || info.Kind == System.Text.Json.Serialization.Metadata.JsonTypeInfoKind.Dictionary
                ? info.ElementType
                : info.Properties.FirstOrDefault(p => p.Name == name)?.PropertyType;
            if (type is null)
            {
                return null;
            }
        }

        return type;
    }

    // The last name of a JSON path such as $.hyperparameters.l2 or $['a key'].
    private static string LastSegment(string? path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return "a key";
        }

        if (path.EndsWith("']", StringComparison.Ordinal) && path.LastIndexOf("['", StringComparison.Ordinal) is var bracket and >= 0)
        {
            return path[(bracket + 2)..^2];
        }

        return path[(path.LastIndexOf('.') + 1)..];
    }

    /// <summary>
    /// Reads a whole request body of at most <paramref name="limit"/> bytes into memory; a larger one is 413
    /// request_too_large naming the limit (with <c>limit_bytes</c>), before a byte is read when its length is declared,
    /// else as soon as the bytes read pass it (a body sent without a length is never held whole).
    /// </summary>
    public static async Task<MemoryStream> ReadBodyAsync(HttpRequest request, int limit, CancellationToken cancellationToken)
    {
        if (request.ContentLength > limit)
        {
            throw BodyTooLarge(limit);
        }

        // Kestrel's own limit (Kestrel:Limits:MaxRequestBodySize, 30 MB by default) must not cut a body this one allows.
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature && feature.MaxRequestBodySize < limit + 1L)
        {
            feature.MaxRequestBodySize = limit + 1L;
        }

        var buffer = new MemoryStream();
        try
        {
            var chunk = new byte[16 * 1024];
            int read;
            while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
            {
                if (buffer.Length + read > limit)
                {
                    throw BodyTooLarge(limit);
                }

                buffer.Write(chunk, 0, read);
            }

            buffer.Position = 0;
            return buffer;
        }
        catch
        {
            await buffer.DisposeAsync();
            throw;
        }
    }

    private static ApiException BodyTooLarge(int limit) => new(
        StatusCodes.Status413PayloadTooLarge,
        "request_too_large",
        string.Create(CultureInfo.InvariantCulture,
            $"the JSON body is larger than the limit of {limit} bytes (setting {ApiOptions.Section}:{nameof(ApiOptions.MaxJsonBodyBytes)})"),
        new Dictionary<string, object?> { ["limit_bytes"] = limit });

    /// <summary>Parses a version number from the path; 400 invalid_version otherwise.</summary>
    public static int Version(string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v > 0
            ? v
            : throw new ApiException(StatusCodes.Status400BadRequest, "invalid_version", $"'{RegistryNames.Shorten(text)}' is not a version number (1, 2, ...)");

    /// <summary>Parses an optional numeric query value.</summary>
    public static int? OptionalInt(string? text, string name) => OptionalLong(text, name) switch
    {
        null => null,
        var v and >= int.MinValue and <= int.MaxValue => (int)v,
        _ => throw OutOfRange(text!, name, int.MaxValue),
    };

    /// <summary>Parses an optional 64-bit numeric query value (event sequence numbers, ...).</summary>
    public static long? OptionalLong(string? text, string name) =>
        string.IsNullOrEmpty(text)
            ? null
            : long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v)
                ? v
                : throw (System.Numerics.BigInteger.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _)
                    ? OutOfRange(text, name, long.MaxValue)
                    : new ApiException(StatusCodes.Status400BadRequest, "invalid_query", $"{name} must be a whole number, not '{RegistryNames.Shorten(text)}'"));

    private static ApiException OutOfRange(string text, string name, long most) =>
        new(StatusCodes.Status400BadRequest, "invalid_query", $"{name} '{RegistryNames.Shorten(text)}' is out of range (at most {most})");

    /// <summary>Parses a true/false query value (absent is false).</summary>
    public static bool Flag(string? text, string name) => text switch
    {
        null or "" or "false" or "0" => false,
        "true" or "1" => true,
        _ => throw new ApiException(StatusCodes.Status400BadRequest, "invalid_query", $"{name} must be true or false, not '{RegistryNames.Shorten(text)}'"),
    };

    /// <summary>Parses a visibility ("private" or "shared").</summary>
    public static ModelVisibility? Visibility(string? text) => text switch
    {
        null => null,
        "private" => ModelVisibility.Private,
        "shared" => ModelVisibility.Shared,
        _ => throw new ApiException(StatusCodes.Status400BadRequest, "invalid_visibility", $"visibility must be 'private' or 'shared', not '{RegistryNames.Shorten(text)}'"),
    };

    /// <summary>
    /// An owner named in a body must be a tenant: a model or dataset of a tenant that does not exist would belong to nobody
    /// (no key of it can be made). The caller's own tenant needs no look-up.
    /// </summary>
    public static async Task RequireTenantAsync(ITenancyStore tenants, string owner, HttpContext context)
    {
        if (owner != context.CallerTenant() && await tenants.GetTenantAsync(owner, context.RequestAborted) is null)
        {
            throw new ApiException(StatusCodes.Status404NotFound, "tenant_not_found", $"tenant '{RegistryNames.Shorten(owner)}' does not exist");
        }
    }

    /// <summary>Who is calling: the authenticated name when tenancy sets one, else "anonymous".</summary>
    public static string Caller(HttpContext context) => context.User.Identity?.Name is { Length: > 0 } name ? name : "anonymous";

    /// <summary>Lifts Kestrel's global body limit for this request; uploads enforce their own limit while streaming.</summary>
    public static void AllowLargeBody(HttpContext context)
    {
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature)
        {
            feature.MaxRequestBodySize = null;
        }
    }

    /// <summary>Refuses a declared Content-Length over the limit before a byte is read.</summary>
    public static void CheckDeclaredLength(HttpRequest request, long limit)
    {
        if (request.ContentLength > limit)
        {
            throw HashingCopy.TooLarge(limit);
        }
    }
}
