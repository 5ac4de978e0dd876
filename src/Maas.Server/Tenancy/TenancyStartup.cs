using System.Net;
using Maas.Core.Tenancy;
using Maas.Server.Auth;
using Maas.Server.Hosting;
using Maas.Storage.Sql;
using Microsoft.Extensions.Options;

namespace Maas.Server.Tenancy;

/// <summary>
/// Brings tenancy up before the first request: checks the anonymous-infer setting against the listen addresses,
/// applies the schema, and on the very first start creates the default tenant and an admin key (printed once and
/// written to an owner-only file), or installs the key MAAS_ADMIN_KEY names.
/// </summary>
internal sealed class TenancyStartup(
    ITenancyStore store,
    TenancyManager manager,
    UsageRecorder recorder,
    TenancyReadiness readiness,
    SqlRegistryStore registryStore,
    IConfiguration configuration,
    IOptions<AuthOptions> options,
    IOptions<MaasOptions> maas,
    TimeProvider time,
    ILogger<TenancyStartup> logger) : IHostedService
{
    /// <summary>The name of the key the first start generates.</summary>
    public const string AdminKeyName = "admin";

    /// <summary>The name of the key MAAS_ADMIN_KEY installs.</summary>
    public const string EnvAdminKeyName = "admin (MAAS_ADMIN_KEY)";

    /// <summary>The file the generated admin key is written to, under the data folder unless configured.</summary>
    public string AdminKeyFile => options.Value.AdminKeyFile ?? Path.Combine(maas.Value.DataDir, "admin-key");

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            CheckAnonymousInfer();
            await registryStore.MigrateAsync(cancellationToken); // once per process: the registry's start awaits the same run
            await BootstrapAsync(cancellationToken);
            readiness.SetReady();
        }
        catch (Exception e)
        {
            readiness.SetFailed(e);
            throw;
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private void CheckAnonymousInfer()
    {
        if (!options.Value.AllowAnonymousInfer)
        {
            return;
        }

        var urls = (configuration[WebHostDefaults.ServerUrlsKey] ?? HostingExtensions.DefaultUrl).Split(';',
            StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var kestrel = configuration.GetSection("Kestrel:Endpoints").GetChildren().Select(e => e["Url"]).OfType<string>();
        var open = urls.Concat(kestrel).Where(u => !IsLoopbackUrl(u)).ToArray();
        if (open.Length > 0)
        {
            throw new InvalidOperationException(
                $"{AuthOptions.Section}:AllowAnonymousInfer is only allowed when the server listens on loopback addresses alone, but it listens on {string.Join(", ", open)}; " +
                "turn the setting off or listen on 127.0.0.1 / [::1] / localhost only");
        }

        logger.LogWarning("Anonymous infer is ON ({Setting}): loopback clients may call models without a key, as the '{Tenant}' tenant",
            AuthOptions.Section + ":AllowAnonymousInfer", Tenant.DefaultName);
    }

    private static bool IsLoopbackUrl(string url)
    {
        var host = Uri.TryCreate(url.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal), UriKind.Absolute, out var uri)
            ? uri.Host.Trim('[', ']')
            : "";
        return host == "localhost" || (IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address));
    }

    private async Task BootstrapAsync(CancellationToken cancellationToken)
    {
        // Well-formed: checked with the options at start-up (AdminKeyOptionsValidator).
        var configured = options.Value.AdminKey is { Length: > 0 } k ? k.Trim() : null;

        if (await store.ClaimBootstrapAsync(cancellationToken))
        {
            await EnsureDefaultTenantAsync(cancellationToken);
            if (configured is null)
            {
                var (key, secret) = await manager.CreateKeyAsync(
                    new NewApiKey(AdminKeyName, Tenant.DefaultName, [MaasScopes.Admin], [], null, UsageLimits.None, "system"), cancellationToken);
                Audit("keys.create", key.Id);
                var file = WriteAdminKeyFile(secret);
                // Straight to the console (not through logging, so it reaches no log shipper). The key itself only
                // when a person is watching: redirected output ends up in files and journals that outlive the key's file.
                var shown = Console.IsOutputRedirected
                    ? $"It is in {file} (readable only by you); read it from there, then delete the file."
                    : $"It is shown this once; it is also in {file} (readable only by you):\n\n    {secret}";
                await Console.Out.WriteLineAsync(
                    $"""

                    MaaS created the '{Tenant.DefaultName}' tenant and an admin API key. {shown}

                    Use it as 'Authorization: Bearer <key>'. Set MAAS_ADMIN_KEY to choose the admin key yourself.

                    """);
            }
        }

        if (configured is not null)
        {
            await InstallConfiguredKeyAsync(configured, cancellationToken);
        }
    }

    private async Task EnsureDefaultTenantAsync(CancellationToken cancellationToken)
    {
        if (await store.GetTenantAsync(Tenant.DefaultName, cancellationToken) is not null)
        {
            return;
        }

        try
        {
            await manager.CreateTenantAsync(Tenant.DefaultName, null, "system", cancellationToken);
            Audit("tenants.create", Tenant.DefaultName);
        }
        catch (TenancyException e) when (e.Code == "tenant_exists")
        {
            // Another node was faster.
        }
    }

    private async Task InstallConfiguredKeyAsync(string secret, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var matches = (await store.FindKeysByPrefixAsync(ApiKeySecrets.PrefixOf(secret), cancellationToken))
            .Where(c => ApiKeySecrets.Verify(secret, c.Key.Salt, c.Key.Hash))
            .ToArray();
        if (matches.Any(m => m.Key.IsUsableAt(now)))
        {
            return;
        }

        await EnsureDefaultTenantAsync(cancellationToken);
        // The variable changed: the key it set before stops working.
        foreach (var old in (await store.ListKeysAsync(null, includeRevoked: false, cancellationToken)).Where(k => k.ManagedBy == "env"))
        {
            await manager.RevokeKeyAsync(old.Id, "system", cancellationToken);
            Audit("keys.revoke", old.Id);
        }

        var (key, _) = await manager.CreateKeyAsync(
            new NewApiKey(EnvAdminKeyName, Tenant.DefaultName, [MaasScopes.Admin], [], null, UsageLimits.None, "system", ManagedBy: "env"), cancellationToken, secret);
        Audit("keys.create", key.Id);
        logger.LogInformation("Installed the admin key from MAAS_ADMIN_KEY as {KeyId} ({Prefix}...)", key.Id, key.Prefix);
    }

    private string WriteAdminKeyFile(string secret)
    {
        var path = AdminKeyFile;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.Delete(path); // a new file gets the owner-only mode below; an old one would keep its own
        var fileOptions = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            fileOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var writer = new StreamWriter(path, new System.Text.UTF8Encoding(false), fileOptions))
        {
            writer.WriteLine(secret);
        }

        return path;
    }

    private void Audit(string action, string target) => recorder.Audit(new AuditEntry
    {
        At = time.GetUtcNow(),
        Actor = "system",
        Action = action,
        Target = target,
        Status = 200,
        Result = "success",
    });
}
