namespace Maas.Core.Registry;

/// <summary>The model registry: models, immutable numbered versions, aliases, uploads and reference resolution.</summary>
/// <remarks>Every failure a caller can cause is a <see cref="RegistryException"/> with a stable code.</remarks>
public interface IModelRegistry
{
    /// <summary>Raised after a change is committed (serving drops what it cached about the model).</summary>
    event EventHandler<RegistryChange>? Changed;

    /// <summary>
    /// Raises <see cref="Changed"/> for a model (or, with <paramref name="version"/>, one version) deleted through another
    /// server sharing the database, so this process drops what it holds of it as it does for a deletion made here.
    /// </summary>
    void ReportDeletedElsewhere(string model, int? version);

    /// <summary>
    /// Raises <see cref="Changed"/> for a model changed through another server sharing the database (its serving
    /// configuration, say), so this process applies it as it does a change made here.
    /// </summary>
    void ReportChangedElsewhere(string model);

    /// <summary>Creates a model.</summary>
    Task<Model> CreateModelAsync(NewModel model, CancellationToken cancellationToken);

    /// <summary>A model by name; throws model_not_found.</summary>
    Task<Model> GetModelAsync(string name, CancellationToken cancellationToken);

    /// <summary>Searches models.</summary>
    Task<ModelPage> ListModelsAsync(ModelQuery query, CancellationToken cancellationToken);

    /// <summary>Changes a model's description, tags, task or visibility.</summary>
    Task<Model> UpdateModelAsync(string name, ModelUpdate update, CancellationToken cancellationToken);

    /// <summary>Replaces a model's serving configuration after validating it.</summary>
    Task<Model> SetServingConfigAsync(string name, ServingConfig config, CancellationToken cancellationToken);

    /// <summary>Deletes a model; one with aliases or versions in use needs <paramref name="force"/>.</summary>
    Task DeleteModelAsync(string name, bool force, CancellationToken cancellationToken);

    /// <summary>Reserves a version number and a staging folder; stage files into the draft, then commit it.</summary>
    Task<VersionDraft> BeginVersionAsync(string model, NewVersionOptions options, CancellationToken cancellationToken);

    /// <summary>Validates the draft's files, stores the artifact and makes the version ready, all or nothing.</summary>
    Task<ModelVersion> CommitVersionAsync(VersionDraft draft, CancellationToken cancellationToken);

    /// <summary>A ready version; throws model_not_found or version_not_found.</summary>
    Task<ModelVersion> GetVersionAsync(string model, int version, CancellationToken cancellationToken);

    /// <summary>The ready versions of a model, ascending.</summary>
    Task<IReadOnlyList<ModelVersion>> ListVersionsAsync(string model, CancellationToken cancellationToken);

    /// <summary>Deletes a version; one that is aliased or in use needs <paramref name="force"/> (which removes its aliases).</summary>
    Task DeleteVersionAsync(string model, int version, bool force, CancellationToken cancellationToken);

    /// <summary>Sets (or, with a null <paramref name="value"/>, removes) one metadata entry of a ready version; the artifact is unchanged.</summary>
    Task<ModelVersion> SetVersionMetadataAsync(string model, int version, string key, string? value, CancellationToken cancellationToken);

    /// <summary>
    /// Completes the signature of a version registered before the server read class labels from ONNX files (see
    /// <see cref="ModelSignature.ClassLabels"/>): reads them from its primary file at <paramref name="localPath"/> and
    /// stores them (raising <see cref="Changed"/> for the version). Returns the version as it is then. Reads nothing
    /// for a version whose signature has labels or cannot have any (no <c>ai.onnx.ml</c> opset), nor again for a file
    /// this process read without finding any.
    /// </summary>
    Task<ModelVersion> CompleteClassLabelsAsync(ModelVersion version, string localPath, CancellationToken cancellationToken);

    /// <summary>Opens a version's primary file (<paramref name="file"/> null) or one of its external data files.</summary>
    Task<ArtifactContent> OpenArtifactAsync(ModelVersion version, string? file, CancellationToken cancellationToken);

    /// <summary>A local path of the version's primary file that an engine can load (external data files sit beside it).</summary>
    Task<string> GetLocalArtifactPathAsync(ModelVersion version, CancellationToken cancellationToken);

    /// <summary>Sets or moves an alias atomically if the precondition holds.</summary>
    Task<ModelAlias> SetAliasAsync(string model, string alias, int version, AliasPrecondition condition, string updatedBy, CancellationToken cancellationToken);

    /// <summary>Deletes an alias if the precondition holds.</summary>
    Task DeleteAliasAsync(string model, string alias, AliasPrecondition condition, CancellationToken cancellationToken);

    /// <summary>One alias; throws alias_not_found.</summary>
    Task<ModelAlias> GetAliasAsync(string model, string alias, CancellationToken cancellationToken);

    /// <summary>A model's aliases.</summary>
    Task<IReadOnlyList<ModelAlias>> ListAliasesAsync(string model, CancellationToken cancellationToken);

    /// <summary>Resolves <c>model</c>, <c>model:alias</c> or <c>model/versions/N</c> to a ready version.</summary>
    Task<ResolvedVersion> ResolveAsync(ModelReference reference, CancellationToken cancellationToken);
}
