using System.Collections;
using System.Reflection;
using Maas.Testing;

namespace Maas.Server.Tests.Hosting;

// Every option the server binds is in docs/configuration.md: an options class names its section in a constant
// `Section`, and each of its settable properties is a key under it (an object-valued property, its properties in turn).
public sealed class ConfigurationDocsTests
{
    [Fact]
    public void Every_bound_option_is_in_docs_configuration_md()
    {
        var docs = File.ReadAllText(Path.Combine(SharedModels.RepoRoot, "docs", "configuration.md"));
        var sections = OptionsClasses().ToList();
        Assert.True(sections.Count >= 20, $"found only {sections.Count} options classes: has the Section convention changed?");

        var keys = sections.SelectMany(s => Keys(s.Section, s.Type)).ToList();
        var missing = keys.Where(key => !docs.Contains($"`{key}`", StringComparison.Ordinal)).ToList();

        Assert.True(missing.Count == 0, $"{missing.Count} of {keys.Count} options are not in docs/configuration.md:\n" + string.Join("\n", missing));
    }

    // Classes of the server's assemblies with a public constant string Section under "Maas".
    private static IEnumerable<(string Section, Type Type)> OptionsClasses() =>
        typeof(Maas.Server.Hosting.MaasOptions).Assembly.GetReferencedAssemblies()
            .Where(name => name.Name!.StartsWith("Maas.", StringComparison.Ordinal))
            .Select(Assembly.Load)
            .Append(typeof(Maas.Server.Hosting.MaasOptions).Assembly)
            .Distinct()
            .SelectMany(assembly => assembly.GetTypes())
            .Select(type => (Type: type, Field: type.GetField("Section", BindingFlags.Public | BindingFlags.Static)))
            .Where(t => t.Field is { IsLiteral: true } && t.Field.GetRawConstantValue() is string s && s.StartsWith("Maas", StringComparison.Ordinal))
            .Select(t => ((string)t.Field!.GetRawConstantValue()!, t.Type));

    private static IEnumerable<string> Keys(string prefix, Type type)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.SetMethod is not { IsPublic: true } || property.GetIndexParameters().Length > 0)
            {
                continue;
            }

            var key = $"{prefix}:{property.Name}";
            var valueType = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            if (valueType.IsClass && valueType != typeof(string) && !typeof(IEnumerable).IsAssignableFrom(valueType))
            {
                foreach (var inner in Keys(key, valueType))
                {
                    yield return inner;
                }
            }
            else
            {
                yield return key;
            }
        }
    }
}
