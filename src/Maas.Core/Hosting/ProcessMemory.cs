using System.Globalization;

namespace Maas.Core.Hosting;

/// <summary>Reads this process's memory from Linux's /proc: resident size, and the resident pages of mapped files.</summary>
/// <remarks>Elsewhere (no /proc) resident size falls back to the working set and mapped files count 0.</remarks>
public static class ProcessMemory
{
    /// <summary>Resident set size in bytes (/proc/self/statm).</summary>
    public static long ResidentBytes()
    {
        try
        {
            var fields = File.ReadAllText("/proc/self/statm").Split(' ');
            return long.Parse(fields[1], CultureInfo.InvariantCulture) * Environment.SystemPageSize;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return Environment.WorkingSet;
        }
    }

    /// <summary>
    /// Resident anonymous memory in bytes (RssAnon of /proc/self/status): heap and engine buffers, without the pages of
    /// mapped files and libraries (a first load maps the engine's own library, which is no model's). Elsewhere the
    /// resident size.
    /// </summary>
    public static long AnonymousBytes()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("RssAnon:", StringComparison.Ordinal))
                {
                    return KiloBytes("Rss:" + line["RssAnon:".Length..]) * 1024;
                }
            }
        }
        catch (IOException)
        {
            // No /proc: the fallback below.
        }
        catch (UnauthorizedAccessException)
        {
            // Likewise.
        }

        return ResidentBytes();
    }

    /// <summary>
    /// Starts the peak resident size (VmHWM) again from the current size (Linux: "5" to /proc/self/clear_refs); false
    /// when this system cannot, and <see cref="PeakResidentBytes"/> then means the peak since the process started.
    /// </summary>
    public static bool ResetPeakResident()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The peak resident size in bytes (VmHWM of /proc/self/status) since the start or the last reset; 0 elsewhere.</summary>
    public static long PeakResidentBytes()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    return KiloBytes("Rss:" + line["VmHWM:".Length..]) * 1024;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // No /proc.
        }

        return 0;
    }

    /// <summary>
    /// Resident bytes of the mappings of each file in <paramref name="paths"/> (/proc/self/smaps): file-backed pages the
    /// kernel can drop and read again, unlike private memory. One pass over smaps for all of them.
    /// </summary>
    public static Dictionary<string, long> MappedFileBytes(IReadOnlyCollection<string> paths)
    {
        var result = paths.Distinct(StringComparer.Ordinal).ToDictionary(p => p, _ => 0L, StringComparer.Ordinal);
        if (result.Count == 0 || !File.Exists("/proc/self/smaps"))
        {
            return result;
        }

        try
        {
            string? current = null;
            foreach (var line in File.ReadLines("/proc/self/smaps"))
            {
                if (line.Length > 0 && (char.IsAsciiDigit(line[0]) || line[0] is >= 'a' and <= 'f'))
                {
                    // A mapping's header (field lines start with a capital): "start-end perms offset dev inode   path": the path is everything after the sixth field.
                    current = PathOf(line);
                    continue;
                }

                if (current is not null && line.StartsWith("Rss:", StringComparison.Ordinal) && result.TryGetValue(current, out var sum))
                {
                    result[current] = sum + KiloBytes(line) * 1024;
                }
            }
        }
        catch (IOException)
        {
            // The process's maps changed while read: report what was seen.
        }

        return result;
    }

    /// <summary>The memory this machine (or its cgroup limit) offers the process, in bytes.</summary>
    public static long MachineBytes() => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

    private static string? PathOf(string header)
    {
        var fields = 0;
        var i = 0;
        while (i < header.Length && fields < 5)
        {
            while (i < header.Length && header[i] != ' ')
            {
                i++;
            }

            while (i < header.Length && header[i] == ' ')
            {
                i++;
            }

            fields++;
        }

        return i < header.Length && header[i] == '/' ? header[i..] : null;
    }

    private static long KiloBytes(string line)
    {
        var digits = line.AsSpan(4).Trim();
        var end = digits.IndexOf(' ');
        return long.TryParse(end < 0 ? digits : digits[..end], NumberStyles.None, CultureInfo.InvariantCulture, out var kb) ? kb : 0;
    }
}
