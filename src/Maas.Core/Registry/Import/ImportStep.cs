namespace Maas.Core.Registry.Import;

/// <summary>Where an import's commit is, for <see cref="ModelImporter.Checkpoint"/>.</summary>
internal enum ImportStep
{
    /// <summary>Downloaded, its checksum compared and staged; its format and the version's options are about to be checked. A cancel still stops it.</summary>
    Checking,

    /// <summary>Downloaded, checked (checksum, format and the version's options) and staged; a cancel still stops it.</summary>
    BeforeFinishing,

    /// <summary>Past the point of no return, about to commit: a cancel is refused.</summary>
    Finishing,

    /// <summary>The version is committed; the job has not shown its end yet.</summary>
    Committed,
}
