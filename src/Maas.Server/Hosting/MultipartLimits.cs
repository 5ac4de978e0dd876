using System.Globalization;
using System.Text;
using Maas.Core.Registry;
using Maas.Server.Errors;

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

/// <summary>Counts one multipart body's parts and form-field bytes against <see cref="MultipartLimits"/>.</summary>
public sealed class MultipartBudget(MultipartLimits limits)
{
    private int _parts;
    private long _fieldBytes;

    /// <summary>Counts one more part; throws 400 <c>multipart_limit</c> naming the limit past it.</summary>
    public void CountPart()
    {
        if (++_parts > limits.MaxParts)
        {
            throw Refuse($"the multipart body has more than {limits.MaxParts} parts", nameof(MultipartLimits.MaxParts), limits.MaxParts);
        }
    }

    /// <summary>Reads a form field's value, within the per-field and all-fields byte limits.</summary>
    public async Task<string> ReadFieldAsync(Stream body, string field, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            buffer.Write(chunk, 0, read);
            _fieldBytes += read;
            if (buffer.Length > limits.MaxFieldBytes)
            {
                throw Refuse($"the form field '{RegistryNames.Shorten(field)}' is longer than {limits.MaxFieldBytes} bytes", nameof(MultipartLimits.MaxFieldBytes), limits.MaxFieldBytes);
            }

            if (_fieldBytes > limits.MaxFieldsBytes)
            {
                throw Refuse($"the multipart body's form fields hold more than {limits.MaxFieldsBytes} bytes together", nameof(MultipartLimits.MaxFieldsBytes), limits.MaxFieldsBytes);
            }
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static ApiException Refuse(string what, string option, long limit) => new(
        StatusCodes.Status400BadRequest,
        "multipart_limit",
        $"{what} ({MultipartLimits.Section}:{option})",
        new Dictionary<string, object?> { ["limit"] = limit });
}
