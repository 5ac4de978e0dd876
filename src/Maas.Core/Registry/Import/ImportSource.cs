namespace Maas.Core.Registry.Import;

/// <summary>Where an import downloads from: the URL, the bearer token it may send, and the file name it suggests.</summary>
public sealed record ImportSource(Uri Url, string? Token, string SuggestedFileName)
{
    /// <summary>The scheme of Hugging Face references.</summary>
    public const string HuggingFaceScheme = "hf://";

    /// <summary>
    /// Resolves an http(s) URL, or <c>hf://owner/repo[@revision]/path/file</c> to the hub's download URL
    /// (<c>{endpoint}/owner/repo/resolve/{revision or main}/path/file</c>). The configured hub token is only ever
    /// attached to URLs on the hub's own host.
    /// </summary>
    public static ImportSource Resolve(string? url, RegistryOptions options)
    {
        if (string.IsNullOrWhiteSpace(url))
        {
            throw RegistryException.Invalid("invalid_url", "url is required");
        }

        var hub = new Uri(options.HuggingFaceEndpoint.TrimEnd('/') + "/");
        Uri target;
        if (url.StartsWith(HuggingFaceScheme, StringComparison.OrdinalIgnoreCase))
        {
            var parts = url[HuggingFaceScheme.Length..].Split('/');
            if (parts.Length < 3 || parts.Any(p => p.Length == 0 || p is "." or ".."))
            {
                throw RegistryException.Invalid("invalid_url",
                    $"'{RegistryNames.Shorten(url)}' is not a Hugging Face reference: use hf://owner/repo/path/to/file (or hf://owner/repo@revision/file)");
            }

            var repo = parts[1];
            var revision = "main";
            var at = repo.IndexOf('@', StringComparison.Ordinal);
            if (at >= 0)
            {
                revision = repo[(at + 1)..];
                repo = repo[..at];
                if (repo.Length == 0 || revision.Length == 0)
                {
                    throw RegistryException.Invalid("invalid_url", $"'{RegistryNames.Shorten(url)}' has an empty repository or revision");
                }
            }

            var path = string.Join('/', parts.Skip(2).Select(Uri.EscapeDataString));
            target = new Uri(hub, $"{Uri.EscapeDataString(parts[0])}/{Uri.EscapeDataString(repo)}/resolve/{Uri.EscapeDataString(revision)}/{path}");
        }
        else if (!Uri.TryCreate(url, UriKind.Absolute, out target!) || (target.Scheme != Uri.UriSchemeHttp && target.Scheme != Uri.UriSchemeHttps))
        {
            throw RegistryException.Invalid("invalid_url", $"'{RegistryNames.Shorten(url)}' is not an http, https or hf:// URL");
        }

        if (target.UserInfo.Length > 0)
        {
            // Never sent (the download sends no credentials from the URL) and kept in the job's errors and the logs if
            // accepted: refused, without repeating them.
            throw RegistryException.Invalid(
                "invalid_url",
                $"the URL names a user or password ('...@{target.Host}'), which imports do not send and would store with the job: "
                + "serve the file without them (a pre-signed URL, or Maas:Registry:HuggingFaceToken for the hub)");
        }

        var onHub = string.Equals(target.Host, hub.Host, StringComparison.OrdinalIgnoreCase) && target.Port == hub.Port && target.Scheme == hub.Scheme;
        var token = onHub && !string.IsNullOrEmpty(options.HuggingFaceToken) ? options.HuggingFaceToken : null;
        var last = Uri.UnescapeDataString(target.AbsolutePath.Split('/', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "");
        return new ImportSource(target, token, last);
    }
}
