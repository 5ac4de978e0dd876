namespace Maas.Storage;

/// <summary>Which database holds the registry ("Maas:Database" section).</summary>
public sealed class DatabaseOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string Section = "Maas:Database";

    /// <summary>"sqlite" (default: a file under the data folder) or "postgres".</summary>
    public string Provider { get; set; } = "sqlite";

    /// <summary>
    /// For postgres: the Npgsql connection string (required). For sqlite: an optional Microsoft.Data.Sqlite connection
    /// string; by default <c>{DataDir}/registry.db</c>.
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>The problems with these settings, each naming its key.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!string.Equals(Provider, "sqlite", StringComparison.OrdinalIgnoreCase) && !string.Equals(Provider, "postgres", StringComparison.OrdinalIgnoreCase))
        {
            errors.Add($"{Section}:Provider must be 'sqlite' or 'postgres', not '{Provider}'");
        }
        else if (string.Equals(Provider, "postgres", StringComparison.OrdinalIgnoreCase) && string.IsNullOrWhiteSpace(ConnectionString))
        {
            errors.Add($"{Section}:ConnectionString is required when {Section}:Provider is 'postgres'");
        }

        return errors;
    }
}
