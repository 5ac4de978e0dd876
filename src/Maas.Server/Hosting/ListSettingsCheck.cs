using System.Collections;
using System.Reflection;

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

    // The keys of collection-valued properties of every options class.
    private static IReadOnlyList<string> FindListKeys() =>
        OptionsTypes.All.SelectMany(t => Lists(t.Section, t.Type, depth: 0)).Distinct(StringComparer.Ordinal).ToList();

    private static IEnumerable<string> Lists(string prefix, Type type, int depth)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.GetIndexParameters().Length == 0))
        {
            var valueType = property.PropertyType;
            if (valueType == typeof(string) || valueType.IsValueType || depth > 4)
            {
                continue;
            }

            var key = $"{prefix}:{property.Name}";
            if (typeof(IEnumerable).IsAssignableFrom(valueType))
            {
                yield return key;
            }
            else if (property.SetMethod is { IsPublic: true })
            {
                foreach (var inner in Lists(key, valueType, depth + 1))
                {
                    yield return inner;
                }
            }
        }
    }
}
