using System.Globalization;

namespace Maas.Core.Registry;

/// <summary>
/// How a caller names what to serve: <c>model</c>, <c>model:alias</c> or <c>model/versions/N</c>, each optionally
/// with its owner tenant in front (<c>tenant/model</c>, <c>tenant/model:alias</c>, <c>tenant/model/versions/N</c>).
/// </summary>
/// <remarks>
/// A plain <c>model</c> means the version its <c>production</c> alias points at when it has one, else its highest
/// ready version: a team that never uses aliases gets the newest upload, and one that does gets what it promoted.
/// <see cref="Model"/> is the model part as written (<c>faces</c> or <c>acme/faces</c>); the registry reads it as a
/// <see cref="ModelKeys">key</see>, so a caller's short name must be resolved to its key first (the server does that).
/// </remarks>
public sealed record ModelReference(string Model, string? Alias = null, int? Version = null)
{
    /// <summary>The alias a plain model name follows when it exists.</summary>
    public const string DefaultAlias = "production";

    /// <summary>Every form <see cref="TryParse"/> takes, for messages that tell a caller how to name a model.</summary>
    public const string Forms = "'name', 'name:alias' or 'name/versions/N' (N a version number from 1), with 'tenant/' in front for another tenant's shared model";

    /// <summary>The owner tenant written in the reference, or null for a short name.</summary>
    public string? Owner => Model.IndexOf('/', StringComparison.Ordinal) is var slash and >= 0 ? Model[..slash] : null;

    /// <summary>The model's name without its owner.</summary>
    public string Name => Model.IndexOf('/', StringComparison.Ordinal) is var slash and >= 0 ? Model[(slash + 1)..] : Model;

    /// <summary>Parses a reference; throws <see cref="RegistryException"/> (invalid_reference) when it is malformed.</summary>
    public static ModelReference Parse(string? text) =>
        TryParse(text, out var reference)
            ? reference
            : throw RegistryException.Invalid(
                "invalid_reference",
                $"'{RegistryNames.Shorten(text)}' is not a model reference: use {Forms}");

    /// <summary>Parses a reference, returning false when it is malformed.</summary>
    public static bool TryParse(string? text, out ModelReference reference)
    {
        reference = null!;
        if (string.IsNullOrEmpty(text) || text.Length > 256)
        {
            return false;
        }

        var parts = text.Split('/');
        string? owner = null;
        if (parts.Length is 2 or 4)
        {
            // The only forms with an even number of parts are the ones with an owner in front.
            owner = parts[0];
            if (!RegistryNames.IsValidName(owner))
            {
                return false;
            }

            parts = parts[1..];
        }

        string Key(string name) => owner is null ? name : owner + "/" + name;

        if (parts.Length == 3)
        {
            if (parts[1] == "versions" && RegistryNames.IsValidName(parts[0])
                && int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number > 0)
            {
                reference = new ModelReference(Key(parts[0]), Version: number);
                return true;
            }

            return false;
        }

        if (parts.Length != 1)
        {
            return false;
        }

        var last = parts[0];
        var colon = last.IndexOf(':', StringComparison.Ordinal);
        if (colon >= 0)
        {
            var model = last[..colon];
            var alias = last[(colon + 1)..];
            if (RegistryNames.IsValidName(model) && RegistryNames.IsValidName(alias))
            {
                reference = new ModelReference(Key(model), Alias: alias);
                return true;
            }

            return false;
        }

        if (RegistryNames.IsValidName(last))
        {
            reference = new ModelReference(Key(last));
            return true;
        }

        return false;
    }

    /// <inheritdoc />
    public override string ToString() =>
        Version is { } v ? $"{Model}/versions/{v.ToString(CultureInfo.InvariantCulture)}" : Alias is { } a ? $"{Model}:{a}" : Model;
}
