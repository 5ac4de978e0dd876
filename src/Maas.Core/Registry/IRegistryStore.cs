namespace Maas.Core.Registry;

/// <summary>Persistence of models, versions, aliases and upload sessions (SQLite or PostgreSQL).</summary>
/// <remarks>
/// Each method is one transaction. Races resolve here, in the database: a taken version number, a moved alias or a
/// lost compare-and-set throws <see cref="RegistryException"/> with <see cref="RegistryErrorKind.Conflict"/>.
/// </remarks>
public interface IRegistryStore
{
    /// <summary>Creates or upgrades the schema to the version this build knows.</summary>
    Task MigrateAsync(CancellationToken cancellationToken);

    /// <summary>Creates a model; a taken name throws model_exists.</summary>
    Task<Model> CreateModelAsync(NewModel model, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>The model with that name, or null.</summary>
    Task<Model?> GetModelAsync(string name, CancellationToken cancellationToken);

    /// <summary>Models matching the query, ordered by name, with their latest ready version.</summary>
    Task<ModelPage> ListModelsAsync(ModelQuery query, CancellationToken cancellationToken);

    /// <summary>Changes descriptive fields; null when the model does not exist.</summary>
    Task<Model?> UpdateModelAsync(string name, ModelUpdate update, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Replaces the serving configuration; null when the model does not exist.</summary>
    Task<Model?> SetServingConfigAsync(string name, ServingConfig config, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Deletes a model with its versions, aliases and sessions; returns the artifact keys its versions used, or null when absent.</summary>
    Task<IReadOnlyList<string>?> DeleteModelAsync(string name, CancellationToken cancellationToken);

    /// <summary>Takes a version number (the next free one, or <paramref name="version"/>) as an uploading row.</summary>
    Task<int> ReserveVersionAsync(long modelId, int? version, string createdBy, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// Turns an uploading row into a ready version with everything the artifact gave; throws when the row is gone.
    /// Drops storage reservation <paramref name="releasedReservation"/> in the same step: the bytes count once, as the
    /// version's, never as both (a concurrent upload of the tenant refused for a moment) or neither.
    /// </summary>
    Task<ModelVersion> CompleteVersionAsync(ModelVersion version, DateTimeOffset now, CancellationToken cancellationToken, string? releasedReservation = null);

    /// <summary>Removes an uploading row that will not become ready.</summary>
    Task AbandonVersionAsync(long modelId, int version, CancellationToken cancellationToken);

    /// <summary>A ready version with its aliases, or null.</summary>
    Task<ModelVersion?> GetVersionAsync(string model, int version, CancellationToken cancellationToken);

    /// <summary>The highest ready version, or null.</summary>
    Task<ModelVersion?> GetLatestVersionAsync(string model, CancellationToken cancellationToken);

    /// <summary>Every ready version of a model, ascending.</summary>
    Task<IReadOnlyList<ModelVersion>> ListVersionsAsync(string model, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes a ready version and returns its artifact key (null when absent). Aliases pointing at it are removed when
    /// <paramref name="removeAliases"/>, else they make it throw version_aliased.
    /// </summary>
    Task<string?> DeleteVersionAsync(long modelId, int version, bool removeAliases, CancellationToken cancellationToken);

    /// <summary>Replaces the metadata of a ready version; false when there is no such ready version.</summary>
    Task<bool> ReplaceVersionMetadataAsync(long modelId, int version, IReadOnlyDictionary<string, string> metadata, CancellationToken cancellationToken);

    /// <summary>
    /// Adds <paramref name="labels"/> (read from the version's file) as the class labels of a ready version's signature
    /// that names none, as one registered before they were read: only while the version still has artifact
    /// <paramref name="artifactKey"/>, keeping the rest of the stored signature as written. False when nothing changed.
    /// </summary>
    Task<bool> AddVersionClassLabelsAsync(long modelId, int version, string artifactKey, IReadOnlyDictionary<string, IReadOnlyList<string>> labels,
        CancellationToken cancellationToken);

    /// <summary>True when any version row (ready or uploading) uses the artifact.</summary>
    Task<bool> IsArtifactReferencedAsync(string artifactKey, CancellationToken cancellationToken);

    /// <summary>Every artifact key any version row uses.</summary>
    Task<IReadOnlySet<string>> ListArtifactKeysAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Removes the uploading rows no live process owns: those of instances whose heartbeat is before
    /// <paramref name="lapsedBefore"/> (or gone), and those owned by none (written before instances were recorded),
    /// never this store's own instance's; returns each removed row's artifact key (null when it had none yet).
    /// </summary>
    Task<IReadOnlyList<string?>> DeleteUploadingVersionsAsync(DateTimeOffset lapsedBefore, CancellationToken cancellationToken);

    /// <summary>
    /// Records the artifact an uploading version is about to commit (null: none), so that no orphan sweep takes the
    /// artifact before the version is ready; false when the row is no longer uploading.
    /// </summary>
    Task<bool> SetUploadingArtifactAsync(long modelId, int version, string? artifactKey, CancellationToken cancellationToken);

    /// <summary>Sets or moves an alias to a ready version, atomically, if <paramref name="condition"/> holds.</summary>
    Task<ModelAlias> SetAliasAsync(long modelId, string alias, int version, AliasPrecondition condition, string updatedBy, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Deletes an alias if <paramref name="condition"/> holds; false when it does not exist.</summary>
    Task<bool> DeleteAliasAsync(long modelId, string alias, AliasPrecondition condition, CancellationToken cancellationToken);

    /// <summary>One alias, or null.</summary>
    Task<ModelAlias?> GetAliasAsync(long modelId, string alias, CancellationToken cancellationToken);

    /// <summary>A model's aliases by name.</summary>
    Task<IReadOnlyList<ModelAlias>> ListAliasesAsync(long modelId, CancellationToken cancellationToken);

    /// <summary>Records a new resumable upload session.</summary>
    Task CreateUploadSessionAsync(UploadSession session, long modelId, CancellationToken cancellationToken);

    /// <summary>A session (its <see cref="UploadSession.Offset"/> is 0: the staged file knows the real one), or null.</summary>
    Task<UploadSession?> GetUploadSessionAsync(string id, CancellationToken cancellationToken);

    /// <summary>Every session, for clean-up.</summary>
    Task<IReadOnlyList<UploadSession>> ListUploadSessionsAsync(CancellationToken cancellationToken);

    /// <summary>Deletes a session row.</summary>
    Task DeleteUploadSessionAsync(string id, CancellationToken cancellationToken);

    /// <summary>
    /// The bytes a tenant's storage quota counts: every version (ready or being written) of the models
    /// <paramref name="owner"/> owns, every version of the datasets it owns, and every file it uploaded through
    /// OpenAI's files API (<c>/v1/files</c>).
    /// </summary>
    Task<long> GetOwnerStorageBytesAsync(string owner, CancellationToken cancellationToken);

    /// <summary>
    /// In one step that no other reservation of <paramref name="request"/>'s owner interleaves with (across processes
    /// on the database): drops the reservations <see cref="StorageReservationRequest.Replaces"/> names and those past
    /// their expiry, then gives <see cref="StorageReservationRequest.Id"/> exactly
    /// <see cref="StorageReservationRequest.Bytes"/> bytes if the owner's stored bytes
    /// (<see cref="GetOwnerStorageBytesAsync"/>), its other live reservations and these stay within
    /// <see cref="StorageReservationRequest.Quota"/>. Refused, nothing changes. Returns what the owner holds besides it.
    /// </summary>
    Task<StorageUse> ReserveStorageAsync(StorageReservationRequest request, CancellationToken cancellationToken);

    /// <summary>Drops a storage reservation (nothing when there is none).</summary>
    Task ReleaseStorageAsync(string id, CancellationToken cancellationToken);

    /// <summary>The open upload sessions on models <paramref name="owner"/> owns.</summary>
    Task<int> CountUploadSessionsAsync(string owner, CancellationToken cancellationToken);
}
