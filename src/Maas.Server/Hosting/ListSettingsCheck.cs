using System.Collections;

namespace Maas.Server.Hosting;

/// <summary>
/// Finds list settings given one value (<c>MAAS_Maas__Auth__TrustedProxies=10.0.0.5</c>), which .NET's binder would
/// ignore without a word: a list's entries are keys of their own (<c>...__TrustedProxies__0</c>).
/// </summary>
internal static class ListSettingsCheck
{
    private static readonly Lazy<IReadOnlyList<string>> ListKeys = new(FindListKeys);

    /// <summary>One line per list setting that holds a single value instead of entries.</summary>
    public static List<string> Problems(IConfiguration configuration) =>
        ListKeys.Value
            .Where(key => !string.IsNullOrEmpty(configuration[key]))
            .Select(key => $"{key} is a list: give its entries as {key}:0, {key}:1, ... (MAAS_{key.Replace(":", "__", StringComparison.Ordinal)}__0, ...), " +
                "not one value")
            .ToList();

    // The keys of collection-valued settings.
    private static IReadOnlyList<string> FindListKeys() =>
        OptionsTypes.Settings()
            .Where(s => s.Property.PropertyType != typeof(string) && typeof(IEnumerable).IsAssignableFrom(s.Property.PropertyType))
            .Select(s => s.Key)
            .Distinct(StringComparer.Ordinal)
            .ToList();
}
