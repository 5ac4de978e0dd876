using System.Globalization;
using Maas.Client;
using Maas.Client.Inference;

namespace Maas.Cli.Commands;

/// <summary>
/// The class labels of the version that answered, by output, so <c>maas infer</c> can print a classifier's top
/// classes by name: the version view's <c>output_labels</c>, which the server resolves as its classification
/// extension does (the CLI keeps no precedence of its own).
/// </summary>
internal static class InferLabels
{
    /// <summary>Labels by output, or null when the version names none or cannot be read (a key without models:read).</summary>
    public static async Task<IReadOnlyDictionary<string, IReadOnlyList<string>>?> ReadAsync(MaasClient client, InferResponse response, CancellationToken ct)
    {
        if (!int.TryParse(response.ModelVersion, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            return null;
        }

        try
        {
            var version = await client.GetVersionAsync(response.ModelName, number, ct);
            return version.OutputLabels is { Count: > 0 } labels ? labels : null;
        }
        catch (MaasApiException)
        {
            return null; // the numbers alone, as before
        }
    }
}
