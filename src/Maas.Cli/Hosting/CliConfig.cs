using System.Text.Json;
using System.Text.Json.Serialization;
using Maas.Client;

namespace Maas.Cli.Hosting;

/// <summary>
/// Where the CLI finds its server and key: <c>--url</c>, then <c>MAAS_URL</c> / <c>MAAS_API_KEY</c>, then the config
/// file that <c>maas login</c> writes (<c>$MAAS_CONFIG</c>, else <c>maas/config.json</c> under the user's config folder).
/// </summary>
public sealed record CliConfig(string? Url, string? ApiKey)
{
    /// <summary>The server when nothing says otherwise (the server's own default address).</summary>
    public const string DefaultUrl = "http://127.0.0.1:8080";

    /// <summary>Where <see cref="Url"/> came from (--url, MAAS_URL, the config file or the default), for messages; not saved.</summary>
    [JsonIgnore]
    public string UrlSource { get; init; } = "the config file";

    /// <summary>The config file's path.</summary>
    public static string FilePath =>
        Environment.GetEnvironmentVariable("MAAS_CONFIG") is { Length: > 0 } explicitPath
            ? explicitPath
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.ApplicationData, Environment.SpecialFolderOption.DoNotVerify), "maas", "config.json");

    /// <summary>The file's contents, or nothing when there is no file.</summary>
    public static CliConfig Load()
    {
        var path = FilePath;
        if (!File.Exists(path))
        {
            return new CliConfig(null, null);
        }

        try
        {
            return JsonSerializer.Deserialize<CliConfig>(File.ReadAllText(path), MaasJson.Options) ?? new CliConfig(null, null);
        }
        catch (JsonException e)
        {
            throw new CliException("invalid_config", $"the config file {path} is not valid JSON ({e.Message}); run 'maas login' again or delete it");
        }
    }

    /// <summary>Writes the file readable and writable by the owner only (its folder too), replacing any old one.</summary>
    public void Save()
    {
        var path = Path.GetFullPath(FilePath);
        var folder = Path.GetDirectoryName(path)!;
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(folder);
        }
        else
        {
            Directory.CreateDirectory(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        // A new file gets the owner-only mode at creation, so the key is never readable by others, not even briefly.
        var temporary = path + ".tmp";
        File.Delete(temporary);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var stream = new FileStream(temporary, options))
        {
            JsonSerializer.Serialize(stream, this, MaasJson.Indented);
        }

        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>The settings in force: the option, then the environment, then the file, then the default URL.</summary>
    public static CliConfig Resolve(string? urlOption)
    {
        var file = new Lazy<CliConfig>(Load);
        var environmentUrl = NonEmpty(Environment.GetEnvironmentVariable("MAAS_URL"));
        var (url, source) = urlOption is not null ? (urlOption, "--url")
            : environmentUrl is not null ? (environmentUrl, "MAAS_URL")
            : file.Value.Url is { } saved ? (saved, $"the config file {FilePath}")
            : (DefaultUrl, "the default");
        var key = NonEmpty(Environment.GetEnvironmentVariable("MAAS_API_KEY")) ?? file.Value.ApiKey;
        return new CliConfig(url, key) { UrlSource = source };
    }

    /// <summary>
    /// Why a server could not be reached, naming where its address came from; with no address given anywhere the
    /// default was tried, so say how to start a server or point the CLI at one.
    /// </summary>
    public string Unreachable(string error) =>
        $"cannot reach the server at {Url} ({UrlSource}): {error}" + (UrlSource == "the default"
            ? "; start one with 'maas serve', or point the CLI at yours with --url, MAAS_URL or 'maas login URL'"
            : "");

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}
