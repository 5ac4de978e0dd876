namespace Maas.Server.Auth;

/// <summary>The answer to "may this caller use this model".</summary>
public enum ModelAccessResult
{
    /// <summary>Go ahead.</summary>
    Allowed,

    /// <summary>Not a model reference at all (or no registry): the endpoint answers its own error.</summary>
    Missing,

    /// <summary>
    /// No such model for this caller: it does not exist, it is another tenant's private model, or it is outside the
    /// key's model list. All three are answered alike, as "does not exist".
    /// </summary>
    Hidden,

    /// <summary>A shared model of another tenant that the caller tried to change: 403.</summary>
    ReadOnly,
}
