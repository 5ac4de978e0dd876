using Maas.Core.Formats.Onnx;
using Maas.Core.Registry;
using Maas.Storage.Artifacts;
using Maas.Storage.Sql;

namespace Maas.Storage.Tests.Support;

/// <summary>A <see cref="ModelRegistry"/> over a real database and a real artifact store in a temporary data folder.</summary>
public sealed class RegistryHarness : IAsyncDisposable
{
    private readonly StorageDatabase _database;
    private readonly TempFolder _folder;

    private RegistryHarness(StorageDatabase database, TempFolder folder, SqlRegistryStore store, IArtifactStore artifacts, RegistryOptions options)
    {
        _database = database;
        _folder = folder;
        Store = store;
        Artifacts = artifacts;
        Options = options;
        Staging = new StagingArea(Path.Combine(folder.Path, "tmp", "staging"));
        Registry = new ModelRegistry(store, artifacts, Staging, options);
    }

    /// <summary>The data folder.</summary>
    public string DataDir => _folder.Path;

    /// <summary>The SQL store.</summary>
    public SqlRegistryStore Store { get; }

    /// <summary>The artifact store.</summary>
    public IArtifactStore Artifacts { get; }

    /// <summary>The staging area.</summary>
    public StagingArea Staging { get; }

    /// <summary>The registry.</summary>
    public ModelRegistry Registry { get; }

    /// <summary>The registry's options.</summary>
    public RegistryOptions Options { get; }

    /// <summary>A harness on <paramref name="db"/>; <paramref name="artifacts"/> defaults to the filesystem store.</summary>
    public static async Task<RegistryHarness> CreateAsync(Db db, Func<string, IArtifactStore>? artifacts = null, RegistryOptions? options = null)
    {
        var database = await StorageDatabase.CreateAsync(db);
        var folder = new TempFolder();
        var store = await database.StoreAsync();
        var artifactStore = artifacts?.Invoke(folder.Path) ?? new FilesystemArtifactStore(Path.Combine(folder.Path, "artifacts"));
        return new RegistryHarness(database, folder, store, artifactStore, options ?? new RegistryOptions { FsyncUploads = false });
    }

    /// <summary>Creates a model and commits one version from <paramref name="bytes"/>.</summary>
    public async Task<ModelVersion> AddVersionAsync(string model, byte[] bytes, string fileName = "model.onnx")
    {
        if (await Store.GetModelAsync(model, CancellationToken.None) is null)
        {
            await Registry.CreateModelAsync(new NewModel(model, "", [], null, ModelVisibility.Private, "default", "tests"), CancellationToken.None);
        }

        await using var draft = await Registry.BeginVersionAsync(model, new NewVersionOptions { CreatedBy = "tests" }, CancellationToken.None);
        await draft.AddFileAsync(fileName, new MemoryStream(bytes), null, CancellationToken.None);
        return await Registry.CommitVersionAsync(draft, CancellationToken.None);
    }

    /// <summary>A small valid ONNX model.</summary>
    public static byte[] Onnx(int seed = 1) => OnnxModelWriter.Mlp(2, [4], 2, seed).ToBytes();

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        (Artifacts as IDisposable)?.Dispose();
        await _database.DisposeAsync();
        _folder.Dispose();
    }
}
