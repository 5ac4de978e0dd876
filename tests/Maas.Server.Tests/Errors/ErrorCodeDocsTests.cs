using System.Text.RegularExpressions;
using Maas.Testing;

namespace Maas.Server.Tests.Errors;

/// <summary>
/// Every error code the management API's own code throws (registry, tenants and keys, loaded models, jobs) is in the
/// error table of docs/api.md: a code is a contract programs match on, so one they cannot look up is a gap.
/// </summary>
public sealed partial class ErrorCodeDocsTests
{
    // Where the management API's refusals are made: its endpoints and the domain code under them.
    private static readonly string[] Folders =
    [
        "src/Maas.Server/Registry", "src/Maas.Server/Tenancy", "src/Maas.Server/Errors", "src/Maas.Server/ModelHosting", "src/Maas.Server/Jobs",
        "src/Maas.Core/Registry", "src/Maas.Core/Tenancy", "src/Maas.Storage/Sql", "src/Maas.Storage/Tenancy",
    ];

    // Codes no route answers with.
    private static readonly Dictionary<string, string> NotAnswers = new(StringComparer.Ordinal)
    {
        ["invalid_key"] = "a malformed MAAS_ADMIN_KEY, refused at start-up (keys made by POST /api/v1/keys are generated)",
    };

    // new ApiException(StatusCodes.Status400BadRequest, "code", ...), RegistryException.Invalid("code", ...),
    // new RegistryException(RegistryErrorKind.X, "code", ...), TenancyException.Conflict("code", ...), ApiErrors.Result(StatusCodes.X, "code", ...)
    [GeneratedRegex(@"(?:new ApiException\(\s*StatusCodes\.Status\d+\w*,\s*|(?:ApiErrors\.)?Result\(\s*StatusCodes\.Status\d+\w*,\s*" +
        @"|(?:RegistryException|TenancyException)\.\w+\(\s*|new (?:RegistryException|TenancyException)\(\s*(?:RegistryErrorKind\.\w+|\d+),\s*)""([a-z][a-z0-9_]*)""")]
    private static partial Regex ThrownCode();

    [Fact]
    public void Every_code_the_management_api_throws_is_in_the_error_table()
    {
        var thrown = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in SourceFiles.CSharpUnder(Folders))
        {
            foreach (Match match in ThrownCode().Matches(File.ReadAllText(file)))
            {
                thrown.TryAdd(match.Groups[1].Value, Path.GetRelativePath(SharedModels.RepoRoot, file));
            }
        }

        Assert.True(thrown.Count > 50, $"the scan found only {thrown.Count} codes: has the code moved?");
        var docs = File.ReadAllText(Path.Combine(SharedModels.RepoRoot, "docs", "api.md"));
        var start = docs.IndexOf("| status | codes |", StringComparison.Ordinal);
        var table = docs[start..docs.IndexOf("\n\n", start, StringComparison.Ordinal)];
        var missing = thrown.Where(c => !NotAnswers.ContainsKey(c.Key) && !table.Contains($"`{c.Key}`", StringComparison.Ordinal)).Select(c => $"{c.Key} ({c.Value})").ToList();
        Assert.True(missing.Count == 0, $"docs/api.md's error table lacks: {string.Join(", ", missing)}");
    }
}
