namespace Maas.Core.Registry;

/// <summary>Who may see and call a model: only its owner tenant, or every tenant.</summary>
public enum ModelVisibility
{
    /// <summary>Only the owner tenant.</summary>
    Private,

    /// <summary>Readable and callable by every tenant.</summary>
    Shared,
}
