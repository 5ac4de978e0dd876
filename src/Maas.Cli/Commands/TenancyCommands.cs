using System.CommandLine;
using Maas.Cli.Hosting;
using Maas.Client.Tenancy;
using Spectre.Console;

namespace Maas.Cli.Commands;

/// <summary><c>maas keys create|list|revoke</c>, <c>maas tenants [list|create|disable|enable|delete]</c> and <c>maas usage</c>.</summary>
public static class TenancyCommands
{
    /// <summary>The <c>keys</c> command.</summary>
    public static Command Keys()
    {
        var keys = new Command("keys", "API keys (admin): create, list, revoke");
        var name = new Argument<string>("name") { Description = "A name for the key" };
        var tenant = new Option<string?>("--tenant") { Description = "Tenant of the key (default: yours)" };
        var scopes = new Option<string[]>("--scope",
            "-s")
        { Description = "Scope (repeatable): admin, models:write, models:read, infer, datasets:write, datasets:read, training:write, training:read", Required = true };
        var models = new Option<string[]>("--model") { Description = "Model name or glob the key may use (repeatable; none: every model the tenant sees)" };
        var expires = new Option<DateTimeOffset?>("--expires") { Description = "Expiry time (ISO 8601)" };
        var create = new Command("create", "Create a key; its secret is shown this once") { name, tenant, scopes, models, expires };
        create.SetAction(async (parse, client, ct) =>
        {
            var key = await client.CreateKeyAsync(
                new NewApiKey(parse.GetValue(name)!)
                {
                    Tenant = parse.GetValue(tenant),
                    Scopes = parse.GetValue(scopes) ?? [],
                    Models = parse.GetValue(models) ?? [],
                    ExpiresAt = parse.GetValue(expires),
                },
                ct);
            return CliHost.Print(parse, key, k =>
            {
                AnsiConsole.MarkupLine($"created key [bold]{Markup.Escape(k.Id)}[/] '{Markup.Escape(k.Name)}' for tenant {Markup.Escape(k.Tenant ?? "")} with " +
                    $"{Markup.Escape(string.Join(", ", k.Scopes ?? []))}");
                AnsiConsole.MarkupLine("the secret (shown this once, store it now):");
                Console.Out.WriteLine(k.Key);
            });
        });

        var listTenant = new Option<string?>("--tenant") { Description = "Only this tenant's keys" };
        var all = new Option<bool>("--all") { Description = "Include revoked keys" };
        var list = new Command("list", "List keys (never their secrets)") { listTenant, all };
        list.Aliases.Add("ls");
        list.SetAction(async (parse, client, ct) =>
        {
            var found = await client.ListKeysAsync(parse.GetValue(listTenant), parse.GetValue(all), ct);
            return CliHost.Print(parse, found.Keys, items =>
            {
                var table = CliHost.Table("ID", "NAME", "PREFIX", "TENANT", "SCOPES", "MODELS", "STATUS", "LAST USED");
                foreach (var k in items)
                {
                    table.Row(k.Id, k.Name, k.Prefix, k.Tenant, k.Scopes, k.Models, k.Status, k.LastUsedAt);
                }

                AnsiConsole.Write(table);
            });
        });

        var id = new Argument<string>("id") { Description = "Key id" };
        var revoke = new Command("revoke", "Revoke a key (it fails from its next request on)") { id };
        revoke.SetAction(async (parse, client, ct) =>
        {
            await client.RevokeKeyAsync(parse.GetValue(id)!, ct);
            return CliHost.Print(parse, new { revoked = parse.GetValue(id) }, r => Console.Out.WriteLine($"revoked {r.revoked}"));
        });

        keys.Subcommands.Add(create);
        keys.Subcommands.Add(list);
        keys.Subcommands.Add(revoke);
        return keys;
    }

    /// <summary>The <c>tenants</c> command: lists tenants; <c>tenants create|disable|enable|delete NAME</c> change one.</summary>
    public static Command Tenants()
    {
        var tenants = new Command("tenants", "Tenants (admin): list them, or 'tenants create|disable|enable|delete NAME'");
        var list = new Command("list", "List tenants");
        list.Aliases.Add("ls");
        list.SetAction(ListTenantsAsync);
        tenants.SetAction(ListTenantsAsync);
        var name = new Argument<string>("name") { Description = "Tenant name" };
        var create = new Command("create", "Create a tenant") { name };
        create.SetAction(async (parse, client, ct) =>
        {
            var tenant = await client.CreateTenantAsync(parse.GetValue(name)!, ct);
            return CliHost.Print(parse, tenant, t => Console.Out.WriteLine($"created tenant {t.Name}"));
        });
        tenants.Subcommands.Add(list);
        tenants.Subcommands.Add(create);
        tenants.Subcommands.Add(SetDisabled("disable", true, "Suspend a tenant: its keys are refused (403) until it is enabled again"));
        tenants.Subcommands.Add(SetDisabled("enable", false, "Resume a suspended tenant"));
        tenants.Subcommands.Add(DeleteTenant());
        return tenants;
    }

    private static Command SetDisabled(string verb, bool disabled, string description)
    {
        var name = new Argument<string>("name") { Description = "Tenant name" };
        var command = new Command(verb, description) { name };
        command.SetAction(async (parse, client, ct) =>
        {
            var tenant = await client.SetTenantDisabledAsync(parse.GetValue(name)!, disabled, ct);
            return CliHost.Print(parse, tenant, t => Console.Out.WriteLine(t.Disabled
                ? $"disabled tenant {t.Name}: its keys are refused until 'maas tenants enable {t.Name}'"
                : $"enabled tenant {t.Name}"));
        });
        return command;
    }

    private static Command DeleteTenant()
    {
        var name = new Argument<string>("name") { Description = "Tenant name" };
        var command = new Command("delete",
            "Delete a tenant that owns nothing (no models, datasets, deployments, files or unfinished jobs); revokes its keys, keeps its usage and audit history") { name };
        command.Aliases.Add("rm");
        command.SetAction(async (parse, client, ct) =>
        {
            var tenant = parse.GetValue(name)!;
            await client.DeleteTenantAsync(tenant, ct);
            return CliHost.Print(parse, new { deleted = tenant },
                r => Console.Out.WriteLine($"deleted tenant {r.deleted}; its keys are revoked, its usage and audit history stay"));
        });
        return command;
    }

    private static async Task<int> ListTenantsAsync(ParseResult parse, Maas.Client.MaasClient client, CancellationToken ct)
    {
        var found = await client.ListTenantsAsync(ct);
        var keys = parse.WantsJson() ? KeyNames.None : await KeyNames.ReadAsync(client, ct);
        return CliHost.Print(parse, found.Tenants, items =>
        {
            var table = CliHost.Table("NAME", "STATUS", "LIMITS", "CREATED", "BY");
            foreach (var t in items)
            {
                table.Row(t.Name, t.Disabled ? "disabled" : "active", t.Limits?.ToString(), t.CreatedAt, keys.Of(t.CreatedBy));
            }

            AnsiConsole.Write(table);
        });
    }

    /// <summary>The <c>usage</c> command.</summary>
    public static Command Usage()
    {
        var tenant = new Option<string?>("--tenant") { Description = "Only this tenant (admin)" };
        var key = new Option<string?>("--key") { Description = "Only this key id (the table names keys; maas keys list gives their ids)" };
        var model = new Option<string?>("--model") { Description = "Only this model" };
        var from = new Option<DateTimeOffset?>("--from") { Description = "From this time (inclusive, ISO 8601)" };
        var to = new Option<DateTimeOffset?>("--to") { Description = "Until this time (exclusive, ISO 8601)" };
        var groupBy = new Option<string?>("--group-by") { Description = "hour, day or none" };
        groupBy.AcceptOnlyFromAmong("hour", "day", "none");
        var command = new Command("usage", "Requests, tokens and compute per tenant, key and model") { tenant, key, model, from, to, groupBy };
        command.SetAction(async (parse, client, ct) =>
        {
            var report = await client.GetUsageAsync(
                new UsageQuery
                {
                    Tenant = parse.GetValue(tenant),
                    Key = parse.GetValue(key),
                    Model = parse.GetValue(model),
                    From = parse.GetValue(from),
                    To = parse.GetValue(to),
                    GroupBy = parse.GetValue(groupBy)
                },
                ct);
            var keys = parse.WantsJson() ? KeyNames.None : await KeyNames.ReadAsync(client, ct);
            return CliHost.Print(parse, report, r =>
            {
                var table = CliHost.Table("PERIOD", "TENANT", "KEY", "MODEL", "REQUESTS", "ERRORS", "TOKENS", "COMPUTE MS", "AVG MS", "MAX MS");
                foreach (var row in r.Rows)
                {
                    // Calls that named no model (the management API, listings) are said to be so, as the console says it.
                    table.Row(row.Period, row.Tenant, keys.Of(row.KeyId), row.Model ?? "(none)", row.Requests, row.Errors, row.TotalTokens, row.ComputeMs, row.AvgLatencyMs,
                        row.MaxLatencyMs);
                }

                if (r.Totals is { } t)
                {
                    table.Row("total", "", "", "", t.Requests, t.Errors, t.TotalTokens, t.ComputeMs, t.AvgLatencyMs, t.MaxLatencyMs);
                }

                AnsiConsole.Write(table);
            });
        });
        return command;
    }
}
