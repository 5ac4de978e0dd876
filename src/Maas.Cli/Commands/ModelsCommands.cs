using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Maas.Cli.Hosting;
using Maas.Client;
using Maas.Client.Jobs;
using Maas.Client.Registry;
using Spectre.Console;

namespace Maas.Cli.Commands;

/// <summary><c>maas models list|show|push|pull|import|rm|alias</c>: the model registry.</summary>
public static class ModelsCommands
{
    /// <summary>The <c>models</c> command with its subcommands.</summary>
    public static Command Create()
    {
        var models = new Command("models", "Models in the registry: list, show, push, pull, import, rm, alias");
        models.Subcommands.Add(List());
        models.Subcommands.Add(Show());
        models.Subcommands.Add(Push());
        models.Subcommands.Add(Pull());
        models.Subcommands.Add(Import());
        models.Subcommands.Add(Remove());
        models.Subcommands.Add(Alias());
        return models;
    }

    private static Command List()
    {
        var search = new Option<string?>("--search", "-q") { Description = "Only names containing this text" };
        var tag = new Option<string[]>("--tag") { Description = "Only models with this tag (repeatable: all must match)" };
        var task = new Option<string?>("--task") { Description = "Only models of this task" };
        var format = new Option<string?>("--format") { Description = "Only models with a ready version in this format (onnx, gguf)" };
        var limit = new Option<int?>("--limit") { Description = "At most this many (1-1000, default 100)" }.Between(1, 1000);
        var command = new Command("list", "List models (JSON: an array of models, each with its name)") { search, tag, task, format, limit };
        command.Aliases.Add("ls");
        command.SetAction(async (parse, client, ct) =>
        {
            var list = await client.ListModelsAsync(
                new ModelQuery
                {
                    Search = parse.GetValue(search),
                    Tags = parse.GetValue(tag),
                    Task = parse.GetValue(task),
                    Format = parse.GetValue(format),
                    Limit = parse.GetValue(limit)
                },
                ct);
            return CliHost.Print(parse, list.Models, models =>
            {
                var table = CliHost.Table("NAME", "LATEST", "TASK", "OWNER", "VISIBILITY", "TAGS", "UPDATED");
                foreach (var m in models)
                {
                    table.Row(m.Name, m.LatestVersion, m.Task, m.Owner, m.Visibility, m.Tags, m.UpdatedAt);
                }

                AnsiConsole.Write(table);
                if (list.Total > models.Count)
                {
                    AnsiConsole.WriteLine($"{models.Count} of {list.Total} models (use --limit)");
                }
            });
        });
        return command;
    }

    private static Command Show()
    {
        var name = new Argument<string>("model") { Description = "Model name" };
        var version = new Option<int?>("--version") { Description = "Show this version: status, signature, evaluation, lineage and optimisation" }.VersionNumber();
        var command = new Command("show", "A model with its versions and aliases, or one version with --version") { name, version };
        command.SetAction(async (parse, client, ct) =>
        {
            if (parse.GetValue(version) is { } number)
            {
                var info = await client.GetVersionAsync(parse.GetValue(name)!, number, ct);
                var keys = parse.WantsJson() ? KeyNames.None : await KeyNames.ReadAsync(client, ct);
                return CliHost.Print(parse, info, v => DescribeVersion(v, keys));
            }

            var model = await client.GetModelAsync(parse.GetValue(name)!, ct);
            return CliHost.Print(parse, model, m =>
            {
                var fields = new FieldList();
                fields.Add("name", m.Name);
                fields.Add("description", m.Description);
                fields.Add("task", m.Task);
                fields.Add("owner", m.Owner);
                fields.Add("visibility", m.Visibility);
                fields.Add("tags", m.Tags);
                fields.Add("latest version", m.LatestVersion);
                fields.Add("created", m.CreatedAt);
                fields.Write();
                var versions = CliHost.Table("VERSION", "FORMAT", "SIZE", "FILE", "ALIASES", "SHA256", "CREATED");
                foreach (var v in m.Versions ?? [])
                {
                    versions.Row(v.Version, v.Format, CliHost.Bytes(v.SizeBytes), v.FileName, v.Aliases, v.Sha256?[..Math.Min(12, v.Sha256.Length)], v.CreatedAt);
                }

                AnsiConsole.Write(versions);
            });
        });
        return command;
    }

    // One version: what it is, what it takes and gives, how well it did on its test split, where it came from.
    private static void DescribeVersion(VersionInfo v, KeyNames keys)
    {
        static string? Text(JsonElement? e, string field) =>
            e is { ValueKind: JsonValueKind.Object } o && o.TryGetProperty(field, out var value) && value.ValueKind != JsonValueKind.Null
                ? value.ValueKind == JsonValueKind.String ? value.GetString() : value.GetRawText()
                : null;
        JsonElement? Extra(string field) => v.Extra?.TryGetValue(field, out var value) == true && value.ValueKind == JsonValueKind.Object ? value : null;

        var fields = new FieldList();
        fields.Add("model", v.Model);
        fields.Add("version", v.Version);
        fields.Add("status", v.Status);
        fields.Add("format", v.Format);
        fields.Add("size", CliHost.Bytes(v.SizeBytes));
        fields.Add("file", v.FileName);
        fields.Add("sha256", v.Sha256);
        fields.Add("aliases", v.Aliases);
        fields.Add("created", v.CreatedAt);
        fields.Add("created by", keys.Of(v.CreatedBy));
        if (v.DerivedFrom is { ValueKind: JsonValueKind.Object } derived)
        {
            fields.Add("derived from", $"{Text(derived, "model")} version {Text(derived, "version")} ({Text(derived, "relation")})");
        }

        var lineage = Extra("lineage");
        if (lineage is { } l && l.TryGetProperty("dataset", out var dataset))
        {
            fields.Add("trained on", $"{Text(dataset, "name")}:{Text(dataset, "version")}");
            fields.Add("training job", Text(l, "job"));
            fields.Add("trainer", Text(l, "trainer"));
        }

        var optimization = Extra("optimization");
        if (optimization is { } opt)
        {
            fields.Add("optimisation", $"{Text(opt, "method")} ({Text(opt, "status")}, job {Text(opt, "job")})");
        }

        fields.Write();
        if (v.Signature is { ValueKind: JsonValueKind.Object } signature)
        {
            // ONNX versions have tensors; a GGUF version has none, and no table.
            var tensors = CliHost.Table("TENSOR", "NAME", "DATATYPE", "SHAPE");
            foreach (var side in new[] { "inputs", "outputs" })
            {
                if (signature.TryGetProperty(side, out var list) && list.ValueKind == JsonValueKind.Array)
                {
                    foreach (var t in list.EnumerateArray())
                    {
                        tensors.Row(side[..^1], Text(t, "name"), Text(t, "datatype"), Text(t, "shape"));
                    }
                }
            }

            if (tensors.Rows.Count > 0)
            {
                AnsiConsole.Write(tensors);
            }
        }

        if (optimization is { } measured && measured.TryGetProperty("report", out var report) && report.ValueKind == JsonValueKind.Object)
        {
            OptimizeCommand.PrintReport(report);
        }

        if (Extra("evaluation") is { } evaluation)
        {
            var metrics = CliHost.Table("EVALUATION", "VALUE");
            foreach (var metric in evaluation.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.Number))
            {
                metrics.Row(metric.Name, WorkerJobFollower.Number(metric.Value.GetDouble()));
            }

            AnsiConsole.Write(metrics);
        }
    }

    private static Command Push()
    {
        var name = new Argument<string>("model") { Description = "Model name (created when it does not exist)" };
        var file = new Argument<FileInfo>("file") { Description = "The .onnx or .gguf file" };
        var version = new Option<int?>("--version") { Description = "Version number to use (default: the next one)" }.VersionNumber();
        var alias = new Option<string?>("--alias") { Description = "Point this alias at the new version" }.AliasName();
        var task = new Option<string?>("--task") { Description = "Task of the model, when it is created" };
        var description = new Option<string?>("--description") { Description = "Description of the model, when it is created" };
        var metadata = new Option<string[]>("--metadata", "-m") { Description = "key=value metadata of the version (repeatable)" };
        var resumable = new Option<bool>("--resumable") { Description = "Upload in chunks through a resumable session (for big files and bad links)" };
        var resume = new Option<string?>("--resume") { Description = "Go on with an interrupted resumable upload (its session id)" };
        var chunk = new Option<int>("--chunk-mib") { Description = "Chunk size of a resumable upload in MiB (1 to 1024)", DefaultValueFactory = _ => 8 }.Between(1, 1024);
        var command = new Command("push", "Upload a model file as a new version (with a progress bar)") { name, file, version, alias, task, description, metadata, resumable,
            resume, chunk };
        command.SetAction(async (parse, client, ct) =>
        {
            var model = parse.GetValue(name)!;
            var path = parse.GetValue(file)!;
            if (!path.Exists)
            {
                throw new CliException("file_not_found", $"no file {path.FullName}");
            }

            // Checked before the model is created and the file sent.
            var options = new UploadOptions { Version = parse.GetValue(version), Metadata = ParsePairs(parse.GetValue(metadata), "--metadata") };
            var modelCreated = await EnsureModelAsync(client, model, parse.GetValue(task), parse.GetValue(description), ct);
            var sessionId = parse.GetValue(resume);
            var chunked = parse.GetValue(resumable) || sessionId is not null;

            // A refused or interrupted upload leaves no empty model behind; a resumable one keeps it for --resume.
            var created = await UndoingAsync(
                () => ProgressDisplay.RunAsync(parse, $"uploading {path.Name}", path.Length, bytes: true, progress =>
                    chunked
                        ? client.UploadVersionResumableAsync(model, path.FullName, options, Resumable(parse, model, path, sessionId, parse.GetValue(chunk)), progress, ct)
                        : client.UploadVersionAsync(model, path.FullName, options, progress, ct)),
                undo: modelCreated && !chunked,
                () => EmptyLeftovers.RemoveModelAsync(client, model));
            if (parse.GetValue(alias) is { } aliasName)
            {
                await client.SetAliasAsync(model, aliasName, created.Version, cancellationToken: ct);
                created = await client.GetVersionAsync(model, created.Version, ct);
            }

            return CliHost.Print(parse, created, v =>
                AnsiConsole.MarkupLine($"pushed [bold]{Markup.Escape(v.Model)}[/] version [bold]{v.Version}[/] ({Markup.Escape(v.Format ?? "")}, {CliHost.Bytes(v.SizeBytes)}, " +
                    $"sha256 {Markup.Escape(v.Sha256 ?? "")}){(v.Aliases is { Count: > 0 } a ? " aliases " + Markup.Escape(string.Join(", ", a)) : "")}"));
        });
        return command;
    }

    // The resumable session's settings; its id is printed as it starts, with the command that goes on with it.
    private static ResumableUploadOptions Resumable(ParseResult parse, string model, FileInfo path, string? sessionId, int chunkMib) => new()
    {
        SessionId = sessionId,
        ChunkBytes = chunkMib << 20,
        SessionStarted = session =>
        {
            if (!parse.WantsJson())
            {
                Console.Out.WriteLine($"upload session {session.Id} (if interrupted: maas models push {model} {path.Name} --resume {session.Id})");
            }
        },
    };

    /// <summary>
    /// Runs <paramref name="work"/>; when it fails (or is interrupted) and <paramref name="undo"/> is set, runs
    /// <paramref name="undoAsync"/> before the failure goes on to be reported.
    /// </summary>
    internal static async Task<T> UndoingAsync<T>(Func<Task<T>> work, bool undo, Func<Task> undoAsync)
    {
        try
        {
            return await work();
        }
        catch (Exception) when (undo)
        {
            await undoAsync();
            throw;
        }
    }

    // Creates the model when it does not exist; true when this command created it.
    private static async Task<bool> EnsureModelAsync(MaasClient client, string model, string? task, string? description, CancellationToken ct)
    {
        try
        {
            await client.GetModelAsync(model, ct);
            return false;
        }
        catch (MaasApiException e) when (e.Status == HttpStatusCode.NotFound)
        {
            try
            {
                await client.CreateModelAsync(new NewModel(model) { Task = task, Description = description }, ct);
                return true;
            }
            catch (MaasApiException race) when (race.Code == "model_exists")
            {
                // Someone created it meanwhile: upload into it.
                return false;
            }
        }
    }

    private static Command Pull()
    {
        var reference = new Argument<string>("reference") { Description = "name, name:alias or name/versions/N" };
        var output = new Option<DirectoryInfo?>("--output", "-o") { Description = "Folder to write into (default: the current folder)" };
        var command = new Command("pull", "Download a version's files (checked against their SHA-256)") { reference, output };
        command.SetAction(async (parse, client, ct) =>
        {
            var resolved = await client.ResolveAsync(parse.GetValue(reference)!, ct);
            var version = resolved.Version;
            var folder = parse.GetValue(output)?.FullName ?? Directory.GetCurrentDirectory();
            var total = version.Files?.Sum(f => f.SizeBytes) ?? version.SizeBytes;
            var paths = await ProgressDisplay.RunAsync(parse, $"downloading {version.Model} version {version.Version}", total, bytes: true, progress =>
                client.DownloadVersionAsync(version.Model, version.Version, folder, progress, ct));
            foreach (var (path, expected) in paths.Zip(version.Files ?? []))
            {
                await using var stream = File.OpenRead(path);
                var actual = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, ct));
                if (actual != expected.Sha256)
                {
                    throw new CliException("checksum_mismatch", $"{path} has SHA-256 {actual}, the registry says {expected.Sha256}");
                }
            }

            var result = new { model = version.Model, version = version.Version, sha256 = version.Sha256, deployment = resolved.Deployment?.Name, files = paths };
            return CliHost.Print(parse, result, _ =>
            {
                if (resolved.Deployment is { } deployment)
                {
                    // A plain name follows the deployment: say which of its versions this is.
                    var which = deployment.Name is { } named ? "deployment " + named : "the model's deployment";
                    Console.Out.WriteLine($"version {version.Version} is the primary version of {which} (it routes to {string.Join(", ", deployment.Versions)})");
                }

                foreach (var path in paths)
                {
                    Console.Out.WriteLine($"wrote {path}");
                }
            });
        });
        return command;
    }

    private static Command Import()
    {
        var name = new Argument<string>("model") { Description = "Model name (created when it does not exist)" };
        var url = new Argument<string>("url") { Description = "http(s):// or hf://owner/repo/path URL of the file" };
        var sha = new Option<string?>("--sha256") { Description = "Expected SHA-256 of the file" };
        var fileName = new Option<string?>("--filename") { Description = "File name in the version (default: the URL's last segment)" };
        var version = new Option<int?>("--version") { Description = "Version number to use" }.VersionNumber();
        var noWait = new Option<bool>("--no-wait") { Description = "Print the job and return without following it" };
        var command = new Command("import", "Import a version from a URL (a server-side job, followed with a progress bar)") { name, url, sha, fileName, version, noWait };
        command.SetAction(async (parse, client, ct) =>
        {
            var model = parse.GetValue(name)!;
            var modelCreated = await EnsureModelAsync(client, model, null, null, ct);
            var job = await UndoingAsync(
                () => client.ImportVersionAsync(
                    model,
                    new ImportRequest(parse.GetValue(url)!) { Sha256 = parse.GetValue(sha), Filename = parse.GetValue(fileName), Version = parse.GetValue(version) },
                    ct),
                undo: modelCreated,
                () => EmptyLeftovers.RemoveModelAsync(client, model));

            if (parse.GetValue(noWait))
            {
                return CliHost.Print(parse, job, j => Console.Out.WriteLine($"job {j.Id} {j.Status}: follow it with 'maas jobs logs {j.Id}'"));
            }

            var exit = await JobsCommands.FollowAsync(parse, client, job, ct);
            if (modelCreated && exit == ExitCodes.JobFailed)
            {
                // The import failed or was cancelled: no version came into the model made for it.
                await EmptyLeftovers.RemoveModelAsync(client, model);
            }

            return exit;
        });
        return command;
    }

    private static Command Remove()
    {
        var name = new Argument<string>("model") { Description = "Model name" };
        var version = new Option<int?>("--version") { Description = "Delete only this version" }.VersionNumber();
        var force = new Option<bool>("--force", "-f") { Description = "Also when it has aliases or is in use" };
        var command = new Command("rm", "Delete a model with all its versions, or one version") { name, version, force };
        command.SetAction(async (parse, client, ct) =>
        {
            var model = parse.GetValue(name)!;
            if (parse.GetValue(version) is { } n)
            {
                await CliHost.DeletingAsync(() => client.DeleteVersionAsync(model, n, parse.GetValue(force), ct));
            }
            else
            {
                await CliHost.DeletingAsync(() => client.DeleteModelAsync(model, parse.GetValue(force), ct));
            }

            var result = new { deleted = model, version = parse.GetValue(version) };
            return CliHost.Print(parse, result, r => Console.Out.WriteLine(r.version is { } v ? $"deleted {r.deleted} version {v}" : $"deleted {r.deleted}"));
        });
        return command;
    }

    private static Command Alias()
    {
        var name = new Argument<string>("model") { Description = "Model name" };
        var alias = new Argument<string?>("alias") { Description = "Alias to set or delete (none: list the aliases)", Arity = ArgumentArity.ZeroOrOne };
        var version = new Argument<int?>("version") { Description = "Version to point the alias at", Arity = ArgumentArity.ZeroOrOne }.VersionNumber();
        var delete = new Option<bool>("--delete", "-d") { Description = "Delete the alias" };
        var expected = new Option<int?>("--expected-version") { Description = "Move only if the alias points at this version now" }.VersionNumber();
        var command = new Command("alias", "List a model's aliases, point one at a version, or delete one") { name, alias, version, delete, expected };
        command.SetAction(async (parse, client, ct) =>
        {
            var model = parse.GetValue(name)!;
            var aliasName = parse.GetValue(alias);
            if (aliasName is null && parse.GetValue(delete))
            {
                // Listing instead would look as if the deletion had been done.
                throw new CliException("usage", "--delete: say which alias to delete: maas models alias MODEL ALIAS --delete", ExitCodes.Usage);
            }

            if (aliasName is null)
            {
                var list = await client.ListAliasesAsync(model, ct);
                return CliHost.Print(parse, list.Aliases, aliases =>
                {
                    var table = CliHost.Table("ALIAS", "VERSION", "REVISION", "UPDATED", "BY");
                    foreach (var a in aliases)
                    {
                        table.Row(a.Name, a.Version, a.Revision, a.UpdatedAt, a.UpdatedBy);
                    }

                    AnsiConsole.Write(table);
                });
            }

            if (parse.GetValue(delete))
            {
                await client.DeleteAliasAsync(model, aliasName, ct);
                return CliHost.Print(parse, new { model, deleted = aliasName }, _ => Console.Out.WriteLine($"deleted alias {model}:{aliasName}"));
            }

            var target = parse.GetValue(version) ??
                throw new CliException("missing_version", "say which version the alias points at: maas models alias MODEL ALIAS VERSION", ExitCodes.Usage);
            var set = await client.SetAliasAsync(model, aliasName, target, parse.GetValue(expected), ct);
            return CliHost.Print(parse, set, a => Console.Out.WriteLine($"{model}:{a.Name} -> version {a.Version} (revision {a.Revision})"));
        });
        return command;
    }

    /// <summary>Parses repeated key=value values of <paramref name="option"/>; a value without a key and '=' is a usage error naming the option.</summary>
    public static Dictionary<string, string>? ParsePairs(string[]? pairs, string option)
    {
        if (pairs is null or { Length: 0 })
        {
            return null;
        }

        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in pairs)
        {
            var split = pair.IndexOf('=', StringComparison.Ordinal);
            if (split <= 0)
            {
                throw new CliException("usage", $"{option}: '{pair}' is not key=value", ExitCodes.Usage);
            }

            result[pair[..split]] = pair[(split + 1)..];
        }

        return result;
    }

    /// <summary>Formats a job's amount done for a line.</summary>
    public static string Amount(JobInfo job) =>
        job.BytesTotal is { } total
            ? string.Create(CultureInfo.InvariantCulture, $"{CliHost.Bytes(job.BytesDone ?? 0)} of {CliHost.Bytes(total)}")
            : CliHost.Bytes(job.BytesDone ?? 0);
}
