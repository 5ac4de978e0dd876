using System.Globalization;

namespace Maas.Server.Hosting;

/// <summary>
/// Caps on the multipart/form-data bodies the server reads (model version uploads, and any other route that takes
/// multipart), bound from "Maas:Multipart": a body of countless tiny parts or huge form fields costs memory and
/// files, not just bytes. File parts are streamed to disk and bounded by their own upload limits.
/// </summary>
public sealed class MultipartLimits
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string Section = "Maas:Multipart";

    /// <summary>The most parts (files and fields together) one body may have.</summary>
    public int MaxParts { get; set; } = 256;

    /// <summary>The longest value of one form field (a part without a file name), in bytes.</summary>
    public int MaxFieldBytes { get; set; } = 64 * 1024;

    /// <summary>The most bytes all form fields of one body may hold together.</summary>
    public int MaxFieldsBytes { get; set; } = 1024 * 1024;

    /// <summary>The largest headers of one part, in bytes.</summary>
    public int MaxPartHeaderBytes { get; set; } = 16 * 1024;

    /// <summary>The problems with these settings, each naming its key.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        Between(errors, nameof(MaxParts), MaxParts, 1, 1_000_000);
        Between(errors, nameof(MaxFieldBytes), MaxFieldBytes, 1024, 64 << 20);
        Between(errors, nameof(MaxFieldsBytes), MaxFieldsBytes, 1024, 1 << 30);
        Between(errors, nameof(MaxPartHeaderBytes), MaxPartHeaderBytes, 1024, 1 << 20);
        return errors;
    }

    private static void Between(List<string> errors, string name, long value, long min, long max)
    {
        if (value < min || value > max)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{Section}:{name} must be between {min} and {max}, not {value}"));
        }
    }
}
