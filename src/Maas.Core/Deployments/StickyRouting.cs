namespace Maas.Core.Deployments;

/// <summary>Sticky routing: one client keeps seeing one version, keyed by a request header's value or by its API key.</summary>
public sealed record StickyRouting
{
    /// <summary>The request header whose value picks the version (e.g. "X-User-Id").</summary>
    public string? Header { get; init; }

    /// <summary>True to key on the caller's API key (its id, never the secret).</summary>
    public bool Key { get; init; }

    /// <summary>Neither a header nor the key: in a change, turns stickiness off (<c>"sticky": {}</c>).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsOff => string.IsNullOrEmpty(Header) && !Key;
}
