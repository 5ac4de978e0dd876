using System.Text;
using Maas.Core.Registry;
using Maas.Server.Errors;

namespace Maas.Server.Hosting;

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
                throw Refuse($"the form field '{RegistryNames.Shorten(field)}' is longer than {limits.MaxFieldBytes} bytes", nameof(MultipartLimits.MaxFieldBytes),
                    limits.MaxFieldBytes);
            }

            if (_fieldBytes > limits.MaxFieldsBytes)
            {
                throw Refuse($"the multipart body's form fields hold more than {limits.MaxFieldsBytes} bytes together", nameof(MultipartLimits.MaxFieldsBytes),
                    limits.MaxFieldsBytes);
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
