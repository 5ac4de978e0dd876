namespace Maas.Core.Registry;

/// <summary>Checks artifact keys.</summary>
public static class ArtifactKeys
{
    /// <summary>True for a 64-character lowercase hex string.</summary>
    public static bool IsValid(string? key) =>
        key is { Length: 64 } && key.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f'));
}
