namespace Maas.Core.Hosting;

/// <summary>Why the host could not give a request its model; each protocol maps it to its own error.</summary>
public enum ModelHostErrorKind
{
    /// <summary>No engine of this server loads the model's format.</summary>
    NoEngine,

    /// <summary>An operator unloaded the version; it stays unloaded until loaded again.</summary>
    Unloaded,

    /// <summary>The load failed (the message has the engine's reason); retried after a pause.</summary>
    LoadFailed,

    /// <summary>The load took longer than the caller may wait.</summary>
    LoadTimeout,

    /// <summary>The model does not fit the memory budget even after evicting every idle model.</summary>
    DoesNotFit,

    /// <summary>The model would take its tenant past its memory quota even after evicting the tenant's idle models.</summary>
    QuotaExceeded,

    /// <summary>The host is shutting down.</summary>
    ShuttingDown,
}
