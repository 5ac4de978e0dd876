using System.Reflection;
using Maas.Server.Hosting;
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
        var sections = OptionsTypes.All;
        Assert.True(sections.Count >= 20, $"found only {sections.Count} options classes: has the Section convention changed?");

        var keys = OptionsTypes.Settings().Select(s => s.Key).ToList();
        var missing = keys.Where(key => !docs.Contains($"`{key}`", StringComparison.Ordinal)).ToList();

        Assert.True(missing.Count == 0, $"{missing.Count} of {keys.Count} options are not in docs/configuration.md:\n" + string.Join("\n", missing));
    }

    // A [Range] with int bounds converts the value to int to compare it: on a floating-point option, a value past
    // int's range then throws instead of failing validation. Such options take double bounds.
    [Fact]
    public void Floating_point_options_have_floating_point_ranges()
    {
        var wrong = OptionsTypes.All
            .SelectMany(t => t.Type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Select(p => (t.Section, Property: p)))
            .Where(p => (Nullable.GetUnderlyingType(p.Property.PropertyType) ?? p.Property.PropertyType) is var type
                && (type == typeof(double) || type == typeof(float) || type == typeof(decimal)))
            .Where(p => p.Property.GetCustomAttribute<System.ComponentModel.DataAnnotations.RangeAttribute>() is { OperandType: var operand } && operand == typeof(int))
            .Select(p => $"{p.Section}:{p.Property.Name}")
            .ToList();

        Assert.True(wrong.Count == 0, "floating-point options with int [Range] bounds:\n" + string.Join("\n", wrong));
    }
}
