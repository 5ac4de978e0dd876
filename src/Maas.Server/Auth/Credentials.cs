using Microsoft.Extensions.Primitives;

namespace Maas.Server.Auth;

/// <summary>Reads the API key from <c>Authorization: Bearer</c> or <c>x-api-key</c> (HTTP headers and gRPC metadata alike).</summary>
public static class Credentials
{
    /// <summary>The alternative header.</summary>
    public const string ApiKeyHeader = "x-api-key";

    /// <summary>The secret, or null with the problem (null and <see cref="CredentialProblem.None"/>: nothing was sent).</summary>
    public static (string? Secret, CredentialProblem Problem) Read(IHeaderDictionary headers)
    {
        var authorization = headers.Authorization;
        var apiKey = headers[ApiKeyHeader];
        var count = Count(authorization) + Count(apiKey);
        if (count == 0)
        {
            return (null, CredentialProblem.None);
        }

        // A comma means a folded list ("Bearer a, Bearer b"): keys never contain one, so it is two credentials.
        if (count > 1 || authorization.ToString().Contains(',') || apiKey.ToString().Contains(','))
        {
            return (null, CredentialProblem.Ambiguous);
        }

        if (apiKey.Count == 1)
        {
            var value = apiKey[0].AsSpan().Trim();
            return value.IsEmpty ? (null, CredentialProblem.BadScheme) : (value.ToString(), CredentialProblem.None);
        }

        var header = authorization[0].AsSpan().Trim();
        const string bearer = "Bearer ";
        if (header.Length <= bearer.Length || !header.StartsWith(bearer, StringComparison.OrdinalIgnoreCase))
        {
            return (null, CredentialProblem.BadScheme);
        }

        var token = header[bearer.Length..].Trim();
        return token.IsEmpty ? (null, CredentialProblem.BadScheme) : (token.ToString(), CredentialProblem.None);
    }

    private static int Count(StringValues values)
    {
        var n = 0;
        foreach (var v in values)
        {
            if (v is not null)
            {
                n++;
            }
        }

        return n;
    }
}
