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
        else if (!string.IsNullOrWhiteSpace(ConnectionString) && ConnectionStringProblem() is { } problem)
        {
            // The value may hold a password: only the parser's reason is shown.
            errors.Add($"{Section}:ConnectionString is not a {Provider.ToLowerInvariant()} connection string: {problem} (its value is not shown)");
        }

        return errors;
    }

    // Why the provider's own parser refuses the connection string, or null when it reads it.
    private string? ConnectionStringProblem()
    {
        try
        {
            _ = string.Equals(Provider, "postgres", StringComparison.OrdinalIgnoreCase)
                ? new Npgsql.NpgsqlConnectionStringBuilder(ConnectionString).ConnectionString
                : new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(ConnectionString).ConnectionString;
            return null;
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or KeyNotFoundException or InvalidOperationException)
        {
            return ex.Message;
        }
    }
}
