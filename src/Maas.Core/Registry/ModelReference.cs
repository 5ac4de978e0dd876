using System.Globalization;

namespace Maas.Core.Registry;

/// <summary>How a caller names what to serve: <c>model</c>, <c>model:alias</c> or <c>model/versions/N</c>.</summary>
/// <remarks>
/// A plain <c>model</c> means the version its <c>production</c> alias points at when it has one, else its highest
/// ready version: a team that never uses aliases gets the newest upload, and one that does gets what it promoted.
/// </remarks>
public sealed record ModelReference(string Model, string? Alias = null, int? Version = null)
{
    /// <summary>The alias a plain model name follows when it exists.</summary>
    public const string DefaultAlias = "production";

    /// <summary>Parses a reference; throws <see cref="RegistryException"/> (invalid_reference) when it is malformed.</summary>
    public static ModelReference Parse(string? text) =>
        TryParse(text, out var reference)
            ? reference
            : throw RegistryException.Invalid(
                "invalid_reference",
                $"'{RegistryNames.Shorten(text)}' is not a model reference: use 'model', 'model:alias' or 'model/versions/N'");

    /// <summary>Parses a reference, returning false when it is malformed.</summary>
    public static bool TryParse(string? text, out ModelReference reference)
    {
        reference = null!;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }

        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            var parts = text.Split('/');
            if (parts.Length == 3 && parts[1] == "versions" && RegistryNames.IsValidName(parts[0])
                && int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number > 0)
            {
                reference = new ModelReference(parts[0], Version: number);
                return true;
            }

            return false;
        }

        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon >= 0)
        {
            var model = text[..colon];
            var alias = text[(colon + 1)..];
            if (RegistryNames.IsValidName(model) && RegistryNames.IsValidName(alias))
            {
                reference = new ModelReference(model, Alias: alias);
                return true;
            }

            return false;
        }

        if (RegistryNames.IsValidName(text))
        {
            reference = new ModelReference(text);
            return true;
        }

        return false;
    }

    /// <inheritdoc />
    public override string ToString() =>
        Version is { } v ? $"{Model}/versions/{v.ToString(CultureInfo.InvariantCulture)}" : Alias is { } a ? $"{Model}:{a}" : Model;
}

/// <summary>A reference resolved to a ready version, with the alias it went through (if any).</summary>
public sealed record ResolvedVersion(Model Model, ModelVersion Version, string? Alias);
