using System.Collections;
using System.Reflection;

namespace Maas.Server.Hosting;

/// <summary>The server's options classes: types of its Maas.* assemblies with a public constant <c>Section</c> under "Maas".</summary>
internal static class OptionsTypes
{
    private static readonly Lazy<IReadOnlyList<(string Section, Type Type)>> Found = new(Find);

    /// <summary>Each options class with the configuration section it binds from.</summary>
    public static IReadOnlyList<(string Section, Type Type)> All => Found.Value;

    /// <summary>
    /// Every setting the options classes bind: its key and property. A property holding an object (not a string or a
    /// collection) stands for its own properties, one key further down.
    /// </summary>
    public static IEnumerable<(string Key, PropertyInfo Property)> Settings() => All.SelectMany(t => Settings(t.Section, t.Type, depth: 0));

    private static IEnumerable<(string Key, PropertyInfo Property)> Settings(string prefix, Type type, int depth)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.SetMethod is not { IsPublic: true } || property.GetIndexParameters().Length > 0)
            {
                continue;
            }

            var key = $"{prefix}:{property.Name}";
            var valueType = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            if (valueType.IsClass && valueType != typeof(string) && !typeof(IEnumerable).IsAssignableFrom(valueType) && depth < 4)
            {
                foreach (var inner in Settings(key, valueType, depth + 1))
                {
                    yield return inner;
                }
            }
            else
            {
                yield return (key, property);
            }
        }
    }

    private static IReadOnlyList<(string Section, Type Type)> Find()
    {
        var server = typeof(OptionsTypes).Assembly;
        return server.GetReferencedAssemblies()
            .Where(name => name.Name!.StartsWith("Maas.", StringComparison.Ordinal))
            .Select(Assembly.Load)
            .Append(server)
            .Distinct()
            .SelectMany(assembly => assembly.GetTypes())
            .Select(type => (Section: type.GetField("Section", BindingFlags.Public | BindingFlags.Static)?.GetRawConstantValue() as string, Type: type))
            .Where(t => t.Section?.StartsWith("Maas", StringComparison.Ordinal) == true)
            .Select(t => (t.Section!, t.Type))
            .ToList();
    }
}
