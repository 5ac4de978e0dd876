namespace Maas.Core.Registry;

/// <summary>What kind of failure a <see cref="RegistryException"/> is; the HTTP layer maps each to a status.</summary>
public enum RegistryErrorKind
{
    /// <summary>The caller sent something invalid (400).</summary>
    Invalid,

    /// <summary>A model, version, alias, upload or job does not exist (404).</summary>
    NotFound,

    /// <summary>The request conflicts with the current state: a duplicate, a lost race, a version in use (409).</summary>
    Conflict,

    /// <summary>An upload is bigger than the configured limit (413).</summary>
    TooLarge,

    /// <summary>The registry cannot do it now: storage unavailable (503).</summary>
    Unavailable,

    /// <summary>Too much is already waiting (the import queue is full); retry later (429).</summary>
    Busy,

    /// <summary>Not enough storage: a tenant's quota, or the disk's free-space floor (507).</summary>
    InsufficientStorage,
}
