using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Xunit;

namespace Maas.Testing;

/// <summary>Checks a struct mirrored from a C header against the header's layout.</summary>
public static class NativeLayout
{
    /// <summary>
    /// Asserts <typeparamref name="T"/>'s size and each field's offset, with every field listed in declaration order
    /// (a field added on one side and not the other fails).
    /// </summary>
    public static void AssertMatches<T>(int size, Dictionary<string, int> offsets)
        where T : struct
    {
        Assert.Equal(size, Marshal.SizeOf<T>());
        Assert.Equal(size, Unsafe.SizeOf<T>());
        var fields = typeof(T).GetFields().Select(f => f.Name).ToList();
        Assert.Equal(fields, offsets.Keys);
        foreach (var (field, offset) in offsets)
        {
            Assert.True(offset == (int)Marshal.OffsetOf<T>(field), $"{typeof(T).Name}.{field}: expected offset {offset}, got {Marshal.OffsetOf<T>(field)}");
        }
    }
}
