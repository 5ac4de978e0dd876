namespace Maas.Core.Registry;

/// <summary>
/// Version metadata keys under <c>maas.</c> belong to the server: its jobs write them (<c>maas.job</c>,
/// <c>maas.tabular</c>, <c>maas.optimization</c>, ...) and read them back as facts (a retried job adopts the version
/// whose <c>maas.job</c> names it, serving honours an optimisation's verdict). A client may not set them; the one
/// exception is <see cref="ClientPreprocessKey"/>, which describes the uploaded model's input for calibration.
/// </summary>
public static class ReservedMetadata
{
    /// <summary>The prefix of the server's own keys (matched ignoring case, so <c>MAAS.job</c> is reserved too).</summary>
    public const string Prefix = "maas.";

    /// <summary>The one <c>maas.</c> key a client may set: how the model's image input is normalised.</summary>
    public const string ClientPreprocessKey = "maas.preprocess";

    /// <summary>The rule, in words, for refusals.</summary>
    public const string Rule = $"metadata keys starting with '{Prefix}' are reserved for the server (only '{ClientPreprocessKey}' may be set by a client)";

    /// <summary>True when a client may not set <paramref name="key"/>.</summary>
    public static bool IsReserved(string key) =>
        key.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase) && !string.Equals(key, ClientPreprocessKey, StringComparison.Ordinal);

    /// <summary>The first key of <paramref name="metadata"/> a client may not set, in key order, or null.</summary>
    public static string? FirstReserved(IReadOnlyDictionary<string, string>? metadata) =>
        metadata?.Keys.Where(IsReserved).Order(StringComparer.Ordinal).FirstOrDefault();
}
