namespace Maas.Core.Hosting;

/// <summary>One model version as every engine and protocol names it: the registry name and version number.</summary>
/// <param name="Name">The registry name of the model.</param>
/// <param name="Version">The registry version (numbers start at 1).</param>
public readonly record struct ModelKey(string Name, int Version)
{
    /// <inheritdoc />
    public override string ToString() => $"'{Name}' version {Version}";
}
