using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Parquet;
using Parquet.Schema;

namespace Maas.Core.Datasets.Readers;

/// <summary>
/// Finds the values of an optional column Parquet.Net never wrote. It counts a page's values by its definition levels
/// and decodes as many as the page's data holds, without comparing the two: the slots of values the data lacked kept
/// whatever the buffer held (a 0 in a fresh array), read as the column's values. The buffer is filled first with what
/// no read makes (text: a marker array; other values: all bits set, read again over zeros when a value has that form).
/// </summary>
internal static class ParquetUnwrittenValues
{
    /// <summary>Fills <paramref name="values"/> before a read; returns the marker text is filled with (null for others).</summary>
    public static char[]? Fill<T>(T[] values)
        where T : struct
    {
        if (values is ReadOnlyMemory<char>[] text)
        {
            var marker = new char[1];
            Array.Fill(text, marker.AsMemory());
            return marker;
        }

        if (!RuntimeHelpers.IsReferenceOrContainsReferences<T>())
        {
            MemoryMarshal.AsBytes(values.AsSpan()).Fill(0xFF);
        }

        return null;
    }

    /// <summary>
    /// The number of values the read wrote when it wrote fewer than <paramref name="defined"/> (they are written from the
    /// first slot on), or null when it wrote them all.
    /// </summary>
    public static async Task<int?> FirstAsync<T>(ParquetRowGroupReader group, DataField field, T[] values, int defined, char[]? marker)
        where T : struct
    {
        if (values is ReadOnlyMemory<char>[] text)
        {
            for (var i = 0; i < defined; i++)
            {
                if (MemoryMarshal.TryGetArray(text[i], out var segment) && ReferenceEquals(segment.Array, marker))
                {
                    return i;
                }
            }

            return null;
        }

        if (RuntimeHelpers.IsReferenceOrContainsReferences<T>())
        {
            return null;
        }

        var first = 0;
        while (first < defined && !AllBytes(values, first, 0xFF))
        {
            first++;
        }

        if (first == defined)
        {
            return null;
        }

        // All bits set may be a value (-1, a NaN): the column read again over zeros tells a value from a slot never written.
        var again = new T[values.Length];
        await group.ReadRawAsync<T>(field, again.AsMemory(), new int[values.Length].AsMemory(), null).ConfigureAwait(false);
        for (var i = first; i < defined; i++)
        {
            if (AllBytes(values, i, 0xFF) && AllBytes(again, i, 0))
            {
                return i;
            }
        }

        return null;
    }

    private static bool AllBytes<T>(T[] values, int index, byte value)
        where T : struct => MemoryMarshal.AsBytes(values.AsSpan(index, 1)).IndexOfAnyExcept(value) < 0;
}
