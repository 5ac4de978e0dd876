namespace Maas.Server.Auth;

/// <summary>Endpoint metadata: the route value that names the model the route acts on (checked for tenant visibility).</summary>
public sealed class ModelRouteValue(string name)
{
    /// <summary>The route value's name.</summary>
    public string Name { get; } = name;
}
