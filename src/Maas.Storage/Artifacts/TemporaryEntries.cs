using System.Globalization;
using Maas.Core.Registry;

namespace Maas.Storage.Artifacts;

/// <summary>
/// The entries of a store's <c>.tmp</c> folder: each named with the time it was begun, so a recovery can remove
/// interrupted commits and leave the young ones another process sharing the folder has under way.
/// </summary>
internal static class TemporaryEntries
{
    /// <summary>A new entry's path under <paramref name="folder"/>: <c>{unix ms}-{random}</c>.</summary>
    public static string NewPath(string folder) =>
        Path.Combine(folder, $"{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)}-{Guid.NewGuid():n}");

    /// <summary>Removes the entries of <paramref name="folder"/> begun before <paramref name="startedBefore"/>; returns how many.</summary>
    public static int RemoveOlder(string folder, DateTimeOffset startedBefore)
    {
        var removed = 0;
        foreach (var entry in Directory.EnumerateFileSystemEntries(folder))
        {
            if (StartedAt(entry) < startedBefore)
            {
                StagingArea.DeleteQuietly(entry);
                removed++;
            }
        }

        return removed;
    }

    // The time in the name; for an entry named otherwise (an earlier build's), its last write.
    private static DateTimeOffset StartedAt(string entry)
    {
        var name = Path.GetFileName(entry);
        var dash = name.IndexOf('-', StringComparison.Ordinal);
        if (dash > 0 && long.TryParse(name.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out var milliseconds))
        {
            return DateTimeOffset.FromUnixTimeMilliseconds(milliseconds);
        }

        try
        {
            return new DateTimeOffset(Directory.Exists(entry) ? Directory.GetLastWriteTimeUtc(entry) : File.GetLastWriteTimeUtc(entry), TimeSpan.Zero);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return DateTimeOffset.MaxValue; // gone meanwhile, or not ours to read
        }
    }
}
