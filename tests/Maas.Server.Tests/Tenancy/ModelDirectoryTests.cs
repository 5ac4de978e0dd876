using Maas.Core.Registry;
using Maas.Core.Tenancy;
using Maas.Server.Auth;
using Maas.Server.Tests.Support;
using Maas.Storage.Artifacts;
using Maas.Storage.Sql;
using Microsoft.Extensions.Options;

namespace Maas.Server.Tests.Tenancy;

/// <summary>The resolver at the edge: a caller's short or qualified model name to the model's key, over a real SQLite registry.</summary>
public sealed class ModelDirectoryTests : IAsyncLifetime
{
    private readonly TempDirectory _folder = new("maas-directory");
    private SqlRegistryStore? _store;
    private ModelRegistry? _registry;

    private ModelRegistry Registry => _registry ?? throw new InvalidOperationException("not initialized");

    public async Task InitializeAsync()
    {
        _store = new SqlRegistryStore(SqliteDialect.ForFile(Path.Combine(_folder.Path, "registry.db")));
        await _store.MigrateAsync(CancellationToken.None);
        _registry = new ModelRegistry(_store, new FilesystemArtifactStore(Path.Combine(_folder.Path, "artifacts")), new StagingArea(Path.Combine(_folder.Path, "staging")),
            new RegistryOptions());
        foreach (var (owner, name, visibility) in new[]
        {
            ("acme", "faces", ModelVisibility.Private),
            ("acme", "both", ModelVisibility.Private),
            ("beta", "faces", ModelVisibility.Shared),
            ("beta", "both", ModelVisibility.Shared),
            ("beta", "only-beta", ModelVisibility.Private),
            ("gamma", "both", ModelVisibility.Shared),
            (Model.DefaultOwner, "legacy", ModelVisibility.Shared),
        })
        {
            await Registry.CreateModelAsync(new NewModel(name, "", [], null, visibility, owner, "tests"), CancellationToken.None);
        }
    }

    public async Task DisposeAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        _folder.Dispose();
    }

    private ModelDirectory Directory(int cacheMs = 0) =>
        new(TimeProvider.System, Options.Create(new AuthOptions { ModelCacheMs = cacheMs }), Registry);

    private static Caller Of(string tenant, params string[] models) => new("k", "p", "key", tenant, [MaasScopes.Infer, MaasScopes.ModelsWrite], models);

    private static Caller Admin { get; } = new("k", "p", "admin", Model.DefaultOwner, [MaasScopes.Admin], []);

    private async Task<ModelAccess> CheckAsync(Caller caller, string text, bool write = false) =>
        await Directory().CheckAsync(caller, text, write, CancellationToken.None);

    [Theory]
    [InlineData("acme", "faces", "acme/faces")]
    [InlineData("acme", "faces:prod", "acme/faces:prod")]
    [InlineData("acme", "faces/versions/3", "acme/faces/versions/3")]
    [InlineData("acme", "beta/faces", "beta/faces")]
    [InlineData("acme", "beta%2Ffaces", "beta/faces")]
    [InlineData("acme", "beta%2ffaces:prod", "beta/faces:prod")]
    [InlineData("acme", "acme/faces", "acme/faces")]
    [InlineData("delta", "faces", "beta/faces")] // the one shared "faces"; acme's private one does not count
    [InlineData("delta", "legacy", "legacy")] // the default tenant's model keeps its bare key
    [InlineData("delta", "default/legacy", "legacy")]
    [InlineData("beta", "only-beta", "beta/only-beta")]
    public async Task A_name_resolves_to_the_key_the_rest_of_the_request_uses(string tenant, string text, string reference)
    {
        var access = await CheckAsync(Of(tenant), text);
        Assert.Equal(ModelAccessResult.Allowed, access.Result);
        Assert.Equal(reference, access.Reference);
        Assert.Equal(ModelPatterns.ModelNameOf(reference), access.Key);
    }

    [Fact]
    public async Task Another_tenants_private_model_is_the_same_answer_as_no_model()
    {
        foreach (var (hidden, absent) in new[] { ("acme/faces", "acme/nothing"), ("beta/only-beta", "beta/nothing"), ("only-beta", "nothing"), ("acme/faces:prod",
            "acme/nothing:prod") })
        {
            var refused = await CheckAsync(Of("delta"), hidden);
            var missing = await CheckAsync(Of("delta"), absent);
            Assert.Equal(ModelAccessResult.Hidden, refused.Result);
            Assert.Equal((missing.Result, missing.Key, missing.NotFoundHint), (refused.Result, refused.Key, refused.NotFoundHint));
        }
    }

    [Fact]
    public async Task A_short_name_several_tenants_share_asks_for_the_qualified_name_and_lists_only_shared_ones()
    {
        var access = await CheckAsync(Of("delta"), "both");
        Assert.Equal(ModelAccessResult.Hidden, access.Result);
        Assert.Contains("'beta/both'", access.NotFoundHint, StringComparison.Ordinal);
        Assert.Contains("'gamma/both'", access.NotFoundHint, StringComparison.Ordinal);
        Assert.DoesNotContain("acme", access.NotFoundHint, StringComparison.Ordinal);

        // The owner's own short name is never ambiguous.
        Assert.Equal("acme/both", (await CheckAsync(Of("acme"), "both")).Key);
    }

    [Fact]
    public async Task Admins_use_their_own_short_names_and_tenant_slash_name_for_every_tenant()
    {
        Assert.Equal("beta/only-beta", (await CheckAsync(Admin, "only-beta")).Key); // the one model of that name anywhere
        Assert.Equal("acme/faces", (await CheckAsync(Admin, "acme/faces")).Key);
        Assert.Equal(ModelAccessResult.Hidden, (await CheckAsync(Admin, "faces")).Result); // acme's and beta's: ambiguous
        Assert.Equal("legacy", (await CheckAsync(Admin, "legacy")).Key);
    }

    [Fact]
    public async Task Writes_need_the_owner_and_key_patterns_see_qualified_names()
    {
        var shared = await CheckAsync(Of("delta"), "faces", write: true);
        Assert.Equal((ModelAccessResult.ReadOnly, "beta/faces"), (shared.Result, shared.Key));
        Assert.Equal(ModelAccessResult.Allowed, (await CheckAsync(Of("acme"), "faces", write: true)).Result);

        var onlyBeta = Of("acme", "beta/*");
        Assert.Equal(ModelAccessResult.Allowed, (await CheckAsync(onlyBeta, "beta/faces")).Result);
        Assert.Equal(ModelAccessResult.Hidden, (await CheckAsync(onlyBeta, "faces")).Result);
        var byName = Of("acme", "faces");
        Assert.Equal(ModelAccessResult.Allowed, (await CheckAsync(byName, "faces")).Result);
        Assert.Equal(ModelAccessResult.Allowed, (await CheckAsync(byName, "beta/faces")).Result);
        Assert.Equal(ModelAccessResult.Hidden, (await CheckAsync(byName, "beta/both")).Result);

        Assert.Equal(ModelAccessResult.Missing, (await CheckAsync(Of("acme"), "Not A Name")).Result);
        Assert.Equal(ModelAccessResult.Missing, (await CheckAsync(Of("acme"), "a/b/c")).Result);
    }

    [Fact]
    public async Task A_model_created_on_this_node_is_found_at_once_despite_the_cache()
    {
        var directory = Directory(cacheMs: 600_000);
        var delta = Of("delta");
        Assert.Equal(ModelAccessResult.Hidden, (await directory.CheckAsync(delta, "fresh", false, CancellationToken.None)).Result);
        await Registry.CreateModelAsync(new NewModel("fresh", "", [], null, ModelVisibility.Shared, "beta", "tests"), CancellationToken.None);
        Assert.Equal("beta/fresh", (await directory.CheckAsync(delta, "fresh", false, CancellationToken.None)).Key);

        // Once the owner makes it private again, it is gone for everyone else at once.
        await Registry.UpdateModelAsync("beta/fresh", new ModelUpdate(Visibility: ModelVisibility.Private), CancellationToken.None);
        Assert.Equal(ModelAccessResult.Hidden, (await directory.CheckAsync(delta, "fresh", false, CancellationToken.None)).Result);
    }
}
