using Maas.Core.Tenancy;
using Microsoft.Extensions.Options;

namespace Maas.Server.Auth;

/// <summary>
/// Checks the admin key settings before the server starts: a malformed MAAS_ADMIN_KEY (its value is never shown) and
/// an admin key file that cannot be written are one line each at start-up, not a failure after the key was made.
/// </summary>
internal sealed class AdminKeyOptionsValidator : IValidateOptions<AuthOptions>
{
    public ValidateOptionsResult Validate(string? name, AuthOptions options)
    {
        var problems = new List<string>();
        if (options.AdminKey is { Length: > 0 } key && !ApiKeySecrets.IsWellFormed(key.Trim()))
        {
            problems.Add($"MAAS_ADMIN_KEY ({AuthOptions.Section}:{nameof(AuthOptions.AdminKey)}) must be {ApiKeySecrets.MinLength} to " +
                $"{ApiKeySecrets.MaxLength} characters of A-Z a-z 0-9 - _ . (its value is not shown)");
        }

        if (options.AdminKeyFile is { Length: > 0 } file && FileProblem(file) is { } problem)
        {
            problems.Add($"{AuthOptions.Section}:{nameof(AuthOptions.AdminKeyFile)} '{file}' cannot be written: {problem}");
        }

        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }

    // Whether a file can be created where the generated key goes: its folder made if missing, a probe written and removed.
    private static string? FileProblem(string file)
    {
        try
        {
            var path = Path.GetFullPath(file);
            if (Directory.Exists(path))
            {
                return "it is a folder";
            }

            var folder = Path.GetDirectoryName(path)!;
            Directory.CreateDirectory(folder);
            var probe = Path.Combine(folder, $".maas-write-check-{Guid.NewGuid():N}");
            using (File.Create(probe, 1, FileOptions.DeleteOnClose))
            {
            }

            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return ex.Message;
        }
    }
}
