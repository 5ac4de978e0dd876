using System.Net;
using System.Text.RegularExpressions;
using Maas.Core.Tenancy;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Server.Tests.Tenancy;

public sealed partial class BootstrapTests
{
    [GeneratedRegex(@"^\s+(maas_[A-Za-z0-9_-]{43})\s*$", RegexOptions.Multiline)]
    private static partial Regex PrintedKey();

    [Fact]
    public async Task The_first_start_keeps_the_admin_key_in_an_owner_only_file_and_names_it_without_printing_the_key_to_redirected_output()
    {
        using var folder = new TempDirectory("maas-bootstrap");
        var settings = new Dictionary<string, string?> { ["Maas:Auth:AdminKey"] = "" };
        string secret;
        await using (var first = await MaasServerProcess.StartAsync(folder.Path, settings))
        {
            var file = Path.Combine(folder.Path, "admin-key");
            Assert.True(File.Exists(file), first.RecentOutput);
            secret = (await File.ReadAllTextAsync(file)).Trim();
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
            }

            // Standard output is a pipe here (not a terminal): the console names the file, never the key.
            Assert.DoesNotContain(secret, first.RecentOutput, StringComparison.Ordinal);
            Assert.DoesNotMatch(PrintedKey(), first.RecentOutput);
            Assert.Contains($"It is in {file} (readable only by you)", first.RecentOutput, StringComparison.Ordinal);

            using var admin = MaasTestServer.CreateClient(first.BaseAddress, secret);
            var me = await (await admin.GetAsync("api/v1/me")).JsonAsync(HttpStatusCode.OK);
            Assert.Equal(MaasScopes.Admin, (string?)me["scopes"]![0]);
            Assert.Equal(Tenant.DefaultName, (string?)me["tenant"]);
            await first.StopAsync();
        }

        await using var second = await MaasServerProcess.StartAsync(folder.Path, settings);
        Assert.DoesNotMatch(PrintedKey(), second.RecentOutput);
        using var again = MaasTestServer.CreateClient(second.BaseAddress, secret);
        var keys = await (await again.GetAsync("api/v1/keys")).JsonAsync(HttpStatusCode.OK);
        var key = Assert.Single(keys["keys"]!.AsArray());
        Assert.Equal("admin", (string?)key!["name"]);
        Assert.Equal(secret[..12], (string?)key["prefix"]);
    }

    [TerminalFact]
    public async Task The_first_start_prints_the_admin_key_when_standard_output_is_a_terminal()
    {
        var script = TerminalFactAttribute.Script!;

        using var folder = new TempDirectory("maas-bootstrap-tty");
        var settings = new Dictionary<string, string?>(MaasTestServer.DefaultSettings) { ["Maas:Auth:AdminKey"] = "" };
        var command = string.Join(' ', new[] { "dotnet", MaasServerProcess.ServerDll(), "--urls", "http://127.0.0.1:0" }
            .Concat(settings.Select(s => $"--{s.Key}={s.Value}")).Select(a => "'" + a.Replace("'", "'\\''", StringComparison.Ordinal) + "'"));
        var info = new System.Diagnostics.ProcessStartInfo(script) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { "-qfec", command, "/dev/null" })
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["MAAS_DATA_DIR"] = folder.Path;
        using var process = System.Diagnostics.Process.Start(info)!;
        var output = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var file = Path.Combine(folder.Path, "admin-key");
            string Printed() { lock (output) { return output.ToString(); } }
            await Conditions.ReadUntilAsync(
                () => Task.FromResult(Printed()),
                printed => (File.Exists(file) && PrintedKey().IsMatch(printed)) || process.HasExited,
                "the server writes the key file and prints the key (or exits)",
                show: printed => printed);

            Assert.True(File.Exists(file), Printed());
            Assert.Equal((await File.ReadAllTextAsync(file)).Trim(), PrintedKey().Match(Printed()).Groups[1].Value);
            Assert.Contains(file, Printed(), StringComparison.Ordinal);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    [Fact]
    public async Task MAAS_ADMIN_KEY_sets_the_admin_key_and_a_new_value_retires_the_old_one()
    {
        using var folder = new TempDirectory("maas-adminkey");
        const string first = "operator-chosen-admin-key-number-one";
        const string second = "operator-chosen-admin-key-number-two";
        await using (var host = await TenancyHost.StartAsync(new Dictionary<string, string?> { ["Maas:Auth:AdminKey"] = first }, dataDir: folder.Path))
        {
            using var client = host.Client(first);
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/keys")).StatusCode);
            Assert.False(File.Exists(Path.Combine(folder.Path, "admin-key")), "no key is generated when one is set");
        }

        await using var restarted = await TenancyHost.StartAsync(new Dictionary<string, string?> { ["Maas:Auth:AdminKey"] = second }, dataDir: folder.Path);
        using var newClient = restarted.Client(second);
        Assert.Equal(HttpStatusCode.OK, (await newClient.GetAsync("api/v1/keys")).StatusCode);
        using var oldClient = restarted.Client(first);
        await (await oldClient.GetAsync("api/v1/keys")).ErrorAsync(HttpStatusCode.Unauthorized, "api_key_revoked");
    }

    [Fact]
    public async Task A_malformed_MAAS_ADMIN_KEY_stops_the_start_without_showing_it()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() =>
            TenancyHost.StartAsync(new Dictionary<string, string?> { ["Maas:Auth:AdminKey"] = "too short" }));
        Assert.Contains("MAAS_ADMIN_KEY", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("too short", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Anonymous_infer_is_refused_on_a_server_that_listens_beyond_loopback()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => TenancyHost.StartAsync(new Dictionary<string, string?>
        {
            ["Maas:Auth:AllowAnonymousInfer"] = "true",
            ["urls"] = "http://0.0.0.0:0",
        }));
        Assert.Contains("AllowAnonymousInfer", error.Message, StringComparison.Ordinal);
    }
}

public sealed class MultiNodeTests
{
    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task A_key_revoked_on_one_node_stops_working_on_another(Db db)
    {
        await using var database = await TestDatabase.CreateAsync(db);
        using var folder = new TempDirectory("maas-nodes");
        var settings = new Dictionary<string, string?> { ["Maas:Auth:ChangePollMs"] = "100", ["Maas:Auth:KeyCacheSeconds"] = "3600" };
        await using var nodeA = await TenancyHost.StartAsync(settings, database, folder.Path);
        await using var nodeB = await TenancyHost.StartAsync(settings, database, db == Db.Sqlite ? folder.Path : null);

        var tenant = await nodeA.CreateTenantAsync();
        var (id, secret) = await nodeA.CreateKeyAsync(tenant, [MaasScopes.ModelsRead]);
        using var onB = nodeB.Client(secret);
        Assert.Equal(HttpStatusCode.OK, (await onB.GetAsync("api/v1/me")).StatusCode); // cached on B for an hour

        Assert.Equal(HttpStatusCode.NoContent, (await nodeA.Admin.DeleteAsync($"api/v1/keys/{id}")).StatusCode);
        using var onA = nodeA.Client(secret);
        await (await onA.GetAsync("api/v1/me")).ErrorAsync(HttpStatusCode.Unauthorized, "api_key_revoked");

        // B drops its cache at its next poll of the change counter.
        var status = await Conditions.ReadUntilAsync(
            async () => (await onB.GetAsync("api/v1/me")).StatusCode,
            s => s != HttpStatusCode.OK,
            "node B refuses the revoked key");

        Assert.Equal(HttpStatusCode.Unauthorized, status);
    }
}

public sealed class BruteForceTests
{
    [Fact]
    public async Task Failed_attempts_are_limited_per_client_address()
    {
        await using var host = await TenancyHost.StartAsync(new Dictionary<string, string?>
        {
            ["Maas:Auth:FailedAttemptsPerWindow"] = "5",
            ["Maas:Auth:FailedAttemptWindowSeconds"] = "2",
        });
        using var held = host.Clock.Hold(); // the guesses fall in one window however slow the machine
        var before = host.Keys.DatabaseLookups;
        for (var i = 0; i < 5; i++)
        {
            using var guess = host.Client($"maas_guess-number-{i}-0000000000000000000000");
            Assert.Equal(HttpStatusCode.Unauthorized, (await guess.GetAsync("api/v1/me")).StatusCode);
        }

        using var next = host.Client("maas_guess-number-6-0000000000000000000000");
        var refused = await next.GetAsync("api/v1/me");
        await refused.ErrorAsync(HttpStatusCode.TooManyRequests, "too_many_failed_attempts");
        Assert.NotNull(refused.Headers.RetryAfter);

        // While blocked even the right key waits, and nothing reaches the database.
        using var admin = host.Client(TenancyHost.AdminKey);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await admin.GetAsync("api/v1/me")).StatusCode);
        Assert.Equal(5, host.Keys.DatabaseLookups - before);

        host.Clock.Advance(refused.Headers.RetryAfter!.Delta!.Value + TimeSpan.FromMilliseconds(200));
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("api/v1/me")).StatusCode);
    }
}

/// <summary>A fact that needs util-linux <c>script</c> (a pseudo-terminal for a child process); skipped with the reason without it.</summary>
public sealed class TerminalFactAttribute : FactAttribute
{
    public TerminalFactAttribute()
    {
        if (Script is null)
        {
            Skip = "needs util-linux 'script' to give the server a pseudo-terminal";
        }
    }

    public static string? Script => OperatingSystem.IsWindows() ? null : new[] { "/usr/bin/script", "/bin/script" }.FirstOrDefault(File.Exists);
}
