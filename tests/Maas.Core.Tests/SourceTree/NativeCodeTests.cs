using System.Text.RegularExpressions;
using Maas.Testing;

namespace Maas.Core.Tests.SourceTree;

// Native code is called from one Native/ folder per engine (Maas.Runtimes.*), through SafeHandles; nothing else
// touches a pointer. Outside those folders no file declares native entry points, uses unsafe code or pins and frees
// native memory by hand. Opaque IntPtr values handed from one native call to the next, and the span helpers
// (MemoryMarshal, CollectionsMarshal, JsonMarshal), are not pointer work and are allowed.
public sealed partial class NativeCodeTests
{
    [GeneratedRegex(@"\bunsafe\b|\bfixed\s*\(|\bstackalloc\b.*\*|\[(?:DllImport|LibraryImport)\b|\bGCHandle\b|(?<![A-Za-z])Marshal\.|\bNativeLibrary\.|\bdelegate\s*\*")]
    private static partial Regex PointerWork();

    [Fact]
    public void Only_the_engines_native_folders_touch_pointers()
    {
        var files = SourceFiles.CSharpUnder("src");
        Assert.True(files.Count > 100, $"found only {files.Count} C# files under src");

        var found = new List<string>();
        foreach (var file in files.Where(file => !InNativeFolder(file)))
        {
            var lines = File.ReadAllLines(file);
            for (var i = 0; i < lines.Length; i++)
            {
                if (PointerWork().Match(WithoutComment(lines[i])) is { Success: true } match)
                {
                    found.Add($"{Path.GetRelativePath(SharedModels.RepoRoot, file)}:{i + 1}: {match.Value}");
                }
            }
        }

        Assert.True(found.Count == 0, $"{found.Count} lines outside an engine's Native/ folder work with pointers:\n" + string.Join("\n", found));
    }

    [Fact]
    public void Native_folders_are_one_per_engine_project()
    {
        var folders = Directory.EnumerateDirectories(Path.Combine(SharedModels.RepoRoot, "src"), "Native", SearchOption.AllDirectories)
            .Select(folder => Path.GetRelativePath(Path.Combine(SharedModels.RepoRoot, "src"), folder).Split(Path.DirectorySeparatorChar))
            .Where(parts => !parts.Contains("bin") && !parts.Contains("obj"))
            .ToList();

        Assert.NotEmpty(folders);
        Assert.All(folders, parts =>
        {
            Assert.StartsWith("Maas.Runtimes.", parts[0], StringComparison.Ordinal);
            Assert.Equal(2, parts.Length); // src/Maas.Runtimes.X/Native, not deeper and not a second one
        });
    }

    [Theory]
    [InlineData("public sealed unsafe class Network", true)]
    [InlineData("        fixed (float* p = values)", true)]
    [InlineData("    [LibraryImport(Library.Name)]", true)]
    [InlineData("        var name = Marshal.StringToCoTaskMemUTF8(text);", true)]
    [InlineData("        var bytes = MemoryMarshal.AsBytes(values);", false)]
    [InlineData("        if (sampler == IntPtr.Zero)", false)]
    [InlineData("        // not unsafe: a comment", false)]
    public void The_scan_tells_pointer_work_from_span_helpers(string line, bool pointerWork) =>
        Assert.Equal(pointerWork, PointerWork().IsMatch(WithoutComment(line)));

    private static bool InNativeFolder(string file) =>
        Path.GetRelativePath(Path.Combine(SharedModels.RepoRoot, "src"), file).Split(Path.DirectorySeparatorChar) is [_, "Native", ..];

    // The code of a line, before a // comment that is not inside a string (close enough for this tree's lines).
    private static string WithoutComment(string line)
    {
        var inString = false;
        for (var i = 0; i + 1 < line.Length; i++)
        {
            if (line[i] == '"' && (i == 0 || line[i - 1] != '\\'))
            {
                inString = !inString;
            }
            else if (!inString && line[i] == '/' && line[i + 1] == '/')
            {
                return line[..i];
            }
        }

        return line;
    }
}
