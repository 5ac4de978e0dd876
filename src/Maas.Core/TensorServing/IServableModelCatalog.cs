namespace Maas.Core.TensorServing;

/// <summary>Where the serving layer finds models: resolves names, aliases and versions (the registry, in the server).</summary>
public interface IServableModelCatalog
{
    /// <summary>
    /// Resolves <paramref name="model"/> ("name" or "name:alias") and an optional <paramref name="version"/>
    /// (a number or an alias) to one servable version. Throws <see cref="InferenceException"/> with
    /// <see cref="InferenceErrorKind.NotFound"/> (or InvalidInput for a malformed reference).
    /// </summary>
    ValueTask<ServableModel> ResolveAsync(string model, string? version, CancellationToken cancellationToken);

    /// <summary>Every servable version (ready in the registry, in a format the server can run).</summary>
    ValueTask<IReadOnlyList<ServableModel>> ListAsync(CancellationToken cancellationToken);

    /// <summary>The version numbers of one model, ascending.</summary>
    ValueTask<IReadOnlyList<int>> VersionsAsync(string name, CancellationToken cancellationToken);

    /// <summary>A local path of the version's model file an engine can load (may fetch it from remote storage).</summary>
    ValueTask<string> GetArtifactPathAsync(ServableModel model, CancellationToken cancellationToken);

    /// <summary>
    /// Called once <paramref name="model"/> has loaded from <paramref name="path"/>, before it serves: the catalog may
    /// complete what it knows of the version from the file (the server's registry: the class labels of a version
    /// registered before they were read). Never throws but for <paramref name="cancellationToken"/>; nothing by default.
    /// </summary>
    ValueTask LoadedAsync(ServableModel model, string path, CancellationToken cancellationToken) => ValueTask.CompletedTask;
}
