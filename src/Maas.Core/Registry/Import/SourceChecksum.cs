namespace Maas.Core.Registry.Import;

/// <summary>Reads the SHA-256 a download source vouches for from its response headers.</summary>
public static class SourceChecksum
{
    /// <summary>
    /// The SHA-256 from <c>X-Linked-Etag</c> (Hugging Face, for LFS files), <c>Digest: SHA-256=</c> (RFC 3230) or
    /// <c>Repr-Digest: sha-256=:...:</c> (RFC 9530), lowercase hex; null when the source gives none.
    /// </summary>
    public static string? FromHeaders(HttpResponseMessage response)
    {
        if (First(response, "X-Linked-Etag") is { } linked && HexSha(linked.Trim().TrimStart('W', '/').Trim('"')) is { } fromEtag)
        {
            return fromEtag;
        }

        if (First(response, "Digest") is { } digest)
        {
            foreach (var part in digest.Split(','))
            {
                var eq = part.IndexOf('=', StringComparison.Ordinal);
                if (eq > 0 && part[..eq].Trim().Equals("sha-256", StringComparison.OrdinalIgnoreCase) && Base64Sha(part[(eq + 1)..].Trim()) is { } sha)
                {
                    return sha;
                }
            }
        }

        if (First(response, "Repr-Digest") is { } repr)
        {
            foreach (var part in repr.Split(','))
            {
                var eq = part.IndexOf('=', StringComparison.Ordinal);
                if (eq > 0 && part[..eq].Trim().Equals("sha-256", StringComparison.OrdinalIgnoreCase) && Base64Sha(part[(eq + 1)..].Trim().Trim(':')) is { } sha)
                {
                    return sha;
                }
            }
        }

        return null;
    }

    private static string? First(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values)
            ? values.FirstOrDefault()
            : null;

    private static string? HexSha(string value)
    {
        var lower = value.ToLowerInvariant();
        return ArtifactKeys.IsValid(lower) ? lower : null;
    }

    private static string? Base64Sha(string value)
    {
        var bytes = new byte[48];
        return Convert.TryFromBase64String(value, bytes, out var written) && written == 32 ? Convert.ToHexStringLower(bytes.AsSpan(0, 32)) : null;
    }
}
