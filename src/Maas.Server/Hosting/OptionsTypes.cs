using System.Reflection;

namespace Maas.Server.Hosting;

/// <summary>The server's options classes: types of its Maas.* assemblies with a public constant <c>Section</c> under "Maas".</summary>
internal static class OptionsTypes
{
    private static readonly Lazy<IReadOnlyList<(string Section, Type Type)>> Found = new(Find);

    /// <summary>Each options class with the configuration section it binds from.</summary>
    public static IReadOnlyList<(string Section, Type Type)> All => Found.Value;

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
