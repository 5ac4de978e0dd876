using System.Collections.Frozen;
using System.Reflection;
using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace Maas.Server.WebConsole;

/// <summary>
/// The console's built files, embedded in this assembly by the build (src/Maas.Console, bundled by esbuild) under
/// the resource prefix <c>MaasConsole/</c>: index.html, and the bundles under ui/ with hashed names.
/// </summary>
public sealed partial class ConsoleAssets
{
    /// <summary>The resource name prefix the build gives every console file.</summary>
    public const string ResourcePrefix = "MaasConsole/";

    private readonly FrozenDictionary<string, ConsoleAsset> _files;

    /// <summary>Loads every embedded console file of <paramref name="assembly"/>.</summary>
    public ConsoleAssets(Assembly assembly)
    {
        var files = new Dictionary<string, ConsoleAsset>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames())
        {
            if (!name.StartsWith(ResourcePrefix, StringComparison.Ordinal))
            {
                continue;
            }

            using var stream = assembly.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var path = name[ResourcePrefix.Length..].Replace('\\', '/');
            var content = copy.ToArray();
            var etag = "\"" + Convert.ToHexStringLower(SHA256.HashData(content))[..16] + "\"";
            files[path] = new ConsoleAsset(path, content, ContentTypeOf(path), etag, HashedName().IsMatch(path));
        }

        _files = files.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>The file at <paramref name="path"/> ("index.html", "ui/app-XXXXXXXX.js"), or null.</summary>
    public ConsoleAsset? Find(string path) => _files.GetValueOrDefault(path);

    /// <summary>Every file's path.</summary>
    public IEnumerable<string> Paths => _files.Keys;

    private static string ContentTypeOf(string path) => System.IO.Path.GetExtension(path) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".svg" => "image/svg+xml",
        ".png" => "image/png",
        ".ico" => "image/x-icon",
        ".json" => "application/json",
        ".map" => "application/json",
        _ => "application/octet-stream",
    };

    // esbuild's [name]-[hash] names: the hash is 8 upper-case letters and digits.
    [GeneratedRegex(@"-[A-Z0-9]{8}\.[a-z]+$")]
    private static partial Regex HashedName();
}
