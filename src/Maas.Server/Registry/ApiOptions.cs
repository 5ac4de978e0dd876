using System.Globalization;

namespace Maas.Server.Registry;

/// <summary>
/// The management API's own limits (every JSON body under /api/v1, and the fine-tuning jobs' body on /v1), bound from
/// "Maas:Api". A JSON body is read whole into memory before it is parsed, so its size is what it costs.
/// </summary>
public sealed class ApiOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string Section = "Maas:Api";

    /// <summary>The default of <see cref="MaxJsonBodyBytes"/>: 1 MiB.</summary>
    public const int DefaultMaxJsonBodyBytes = 1 << 20;

    /// <summary>The largest JSON body a management route reads, in bytes; a larger one is 413 request_too_large.</summary>
    public int MaxJsonBodyBytes { get; set; } = DefaultMaxJsonBodyBytes;

    /// <summary>The problems with these settings, each naming its key.</summary>
    public IReadOnlyList<string> Validate()
    {
        const int min = 1024, max = 256 << 20;
        return MaxJsonBodyBytes is < min or > max
            ? [string.Create(CultureInfo.InvariantCulture, $"{Section}:{nameof(MaxJsonBodyBytes)} must be between {min} and {max}, not {MaxJsonBodyBytes}")]
            : [];
    }
}
