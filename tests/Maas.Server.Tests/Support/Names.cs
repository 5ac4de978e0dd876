namespace Maas.Server.Tests.Support;

/// <summary>Unique model names, so tests can share one server without seeing each other's models.</summary>
public static class Names
{
    /// <summary>A valid, unique model name starting with <paramref name="prefix"/>.</summary>
    public static string Unique(string prefix = "m") => $"{prefix}-{Guid.NewGuid().ToString("n")[..12]}";
}
