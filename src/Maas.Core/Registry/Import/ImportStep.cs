namespace Maas.Core.Registry.Import;

/// <summary>Where an import's commit is, for <see cref="ModelImporter.Checkpoint"/>.</summary>
internal enum ImportStep
{
    /// <summary>Downloaded, checked and staged; a cancel still stops it.</summary>
    BeforeFinishing,

    /// <summary>Past the point of no return, about to commit: a cancel is refused.</summary>
    Finishing,

    /// <summary>The version is committed; the job has not shown its end yet.</summary>
    Committed,
}
