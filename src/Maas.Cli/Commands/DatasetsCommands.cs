using System.CommandLine;
using System.Net;
using System.Text.Json;
using Maas.Cli.Hosting;
using Maas.Client;
using Maas.Client.Datasets;
using Maas.Client.Registry;
using Maas.Core.Datasets;
using Spectre.Console;

namespace Maas.Cli.Commands;

/// <summary><c>maas datasets list|show|push|preview|rm</c>: datasets to train from.</summary>
public static class DatasetsCommands
{
    /// <summary>The <c>datasets</c> command with its subcommands.</summary>
    public static Command Create()
    {
        var datasets = new Command("datasets", "Datasets to train from: list, show, push, preview, rm");
        datasets.Subcommands.Add(List());
        datasets.Subcommands.Add(Show());
        datasets.Subcommands.Add(Push());
        datasets.Subcommands.Add(Preview());
        datasets.Subcommands.Add(Remove());
        return datasets;
    }

    private static Command List()
    {
        var command = new Command("list", "The datasets this key may see (JSON: an array of datasets, each with its name)");
        command.Aliases.Add("ls");
        command.SetAction(async (parse, client, ct) =>
        {
            var list = await client.ListDatasetsAsync(ct);
            return CliHost.Print(parse, list.Datasets, items =>
            {
                var table = CliHost.Table("NAME", "LATEST", "OWNER", "VISIBILITY", "DESCRIPTION", "CREATED");
                foreach (var d in items)
                {
                    table.Row(d.Name, d.LatestVersion, d.Owner, d.Visibility, d.Description, d.CreatedAt);
                }

                AnsiConsole.Write(table);
            });
        });
        return command;
    }

    private static Command Show()
    {
        var name = new Argument<string>("dataset") { Description = "Dataset name" };
        var version = new Option<int?>("--version")
        {
            Description = "One version with its schema and column statistics (default: the dataset with its versions, and the " +
            "latest version's schema)"
        }.VersionNumber();
        var command = new Command("show", "A dataset with its versions, and a version's schema and column statistics") { name, version };
        command.SetAction(async (parse, client, ct) =>
        {
            var dataset = parse.GetValue(name)!;
            if (parse.GetValue(version) is { } number)
            {
                var one = await client.GetDatasetVersionAsync(dataset, number, ct);
                return CliHost.Print(parse, one, DescribeVersion);
            }

            var info = await client.GetDatasetAsync(dataset, ct);
            var latest = info.LatestVersion is { } n ? await client.GetDatasetVersionAsync(dataset, n, ct) : null;
            if (parse.WantsJson())
            {
                CliHost.PrintJson(info);
                return ExitCodes.Ok;
            }

            var fields = new FieldList();
            fields.Add("name", info.Name);
            fields.Add("owner", info.Owner);
            fields.Add("visibility", info.Visibility);
            fields.Add("description", info.Description);
            fields.Add("latest version", info.LatestVersion);
            fields.Add("created", info.CreatedAt);
            fields.Write();
            var versions = CliHost.Table("VERSION", "FORMAT", "ROWS", "SIZE", "FILE", "SHA256", "CREATED");
            foreach (var v in info.Versions ?? [])
            {
                versions.Row(v.Version, v.Format, v.Rows, CliHost.Bytes(v.SizeBytes), v.FileName, v.Sha256?[..Math.Min(12, v.Sha256.Length)], v.CreatedAt);
            }

            AnsiConsole.Write(versions);
            if (latest is not null)
            {
                Console.Out.WriteLine($"version {latest.Version}:");
                DescribeVersion(latest);
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Push()
    {
        var name = new Argument<string>("dataset") { Description = "Dataset name (created when it does not exist)" };
        var file = new Argument<FileInfo>("file")
        {
            Description = "A .csv, .tsv, .jsonl, .parquet (optionally .gz) or a .zip/.tar(.gz) of IDX files or of pictures " +
            "in one folder per class"
        };
        var schema = new Option<string?>("--schema") { Description = "COLUMN:TYPE,... types that replace the inferred ones (number, string, boolean)" };
        var imageSize = new Option<string?>("--image-size") { Description = "WIDTHxHEIGHT: resize every picture of an image folder to it" };
        var visibility = new Option<string?>("--visibility") { Description = "private (default) or shared, when the dataset is created" };
        var description = new Option<string?>("--description") { Description = "Description, when the dataset is created" };
        var resumable = new Option<bool>("--resumable")
        {
            Description = "Upload in chunks through a resumable session, retried from where the server is " +
            "after a broken connection"
        };
        var resume = new Option<string?>("--resume") { Description = "Go on with an interrupted resumable upload (its session id)" };
        var chunk = new Option<int>("--chunk-mib") { Description = "Chunk size of a resumable upload in MiB (1 to 1024)", DefaultValueFactory = _ => 8 }.Between(1, 1024);
        var command = new Command("push", "Upload a file as a new dataset version (with a progress bar); prints its schema and statistics") { name, file, schema, imageSize,
            visibility, description, resumable, resume, chunk };
        command.Aliases.Add("upload");
        command.SetAction(async (parse, client, ct) =>
        {
            var dataset = parse.GetValue(name)!;
            var path = parse.GetValue(file)!;
            if (!path.Exists)
            {
                throw new CliException("file_not_found", $"no file {path.FullName}");
            }

            // The server picks the format by the extension and refuses any other only after the whole file arrived.
            if (DatasetFileNames.Match(path.Name) is null)
            {
                throw new CliException("usage", $"<file>: '{path.Name}' has no dataset extension; use {DatasetFileNames.Accepted}", ExitCodes.Usage);
            }

            var datasetCreated = await EnsureDatasetAsync(client, dataset, parse.GetValue(visibility), parse.GetValue(description), ct);
            var options = new DatasetUploadOptions { Schema = parse.GetValue(schema), ImageSize = parse.GetValue(imageSize) };
            var sessionId = parse.GetValue(resume);
            var chunked = parse.GetValue(resumable) || sessionId is not null;

            // A refused or interrupted upload leaves no empty dataset behind; a resumable one keeps it for --resume.
            var created = await ModelsCommands.UndoingAsync(
                () => ProgressDisplay.RunAsync(parse, $"uploading {path.Name}", path.Length, bytes: true, progress =>
                    UploadAsync(parse, client, dataset, path, options,
                    chunked ? new ResumableUploadOptions { SessionId = sessionId, ChunkBytes = parse.GetValue(chunk) << 20 } : null, progress, ct)),
                undo: datasetCreated && !chunked,
                () => EmptyLeftovers.RemoveDatasetAsync(client, dataset));
            return CliHost.Print(parse, created, v =>
            {
                Console.Out.WriteLine($"pushed {v.Dataset} version {v.Version} ({v.Format}, {v.Rows} rows, {CliHost.Bytes(v.SizeBytes)})");
                DescribeVersion(v);
            });
        });
        return command;
    }

    private static Command Preview()
    {
        var name = new Argument<string>("dataset") { Description = "Dataset name" };
        var version = new Option<int?>("--version") { Description = "The version (default: the latest)" }.VersionNumber();
        var limit = new Option<int?>("--limit", "-n") { Description = "Rows to show (default 20)" }.Between(1, int.MaxValue);
        var command = new Command("preview", "The first rows of a dataset version (JSON: {dataset, version, rows_total, columns, rows})") { name, version, limit };
        command.SetAction(async (parse, client, ct) =>
        {
            var dataset = parse.GetValue(name)!;
            var number = parse.GetValue(version) ?? (await client.GetDatasetAsync(dataset, ct)).LatestVersion
                ?? throw new MaasApiException(HttpStatusCode.NotFound, "dataset_version_not_found", $"dataset '{dataset}' has no version yet");
            var preview = await client.PreviewDatasetAsync(dataset, number, parse.GetValue(limit), ct);
            return CliHost.Print(parse, preview, p =>
            {
                var table = CliHost.Table([.. p.Columns.Select(c => c.Name)]);
                foreach (var row in p.Rows)
                {
                    table.Row([.. p.Columns.Select(c => row.TryGetValue(c.Name, out var value) ? Cell(value) : "")]);
                }

                AnsiConsole.Write(table);
                Console.Out.WriteLine($"{p.Rows.Count} of {p.RowsTotal} rows of {p.Dataset} version {p.Version}");
            });
        });
        return command;
    }

    private static Command Remove()
    {
        var name = new Argument<string>("dataset") { Description = "Dataset name" };
        var version = new Option<int?>("--version") { Description = "Delete only this version" }.VersionNumber();
        var force = new Option<bool>("--force") { Description = "Delete even while model versions name it in their lineage" };
        var command = new Command("rm", "Delete a dataset or one version (409 dataset_in_use while models were trained from it, unless --force)") { name, version, force };
        command.SetAction(async (parse, client, ct) =>
        {
            var dataset = parse.GetValue(name)!;
            if (parse.GetValue(version) is { } number)
            {
                await CliHost.DeletingAsync(() => client.DeleteDatasetVersionAsync(dataset, number, parse.GetValue(force), ct));
                return CliHost.Print(parse, new { deleted = dataset, version = number }, _ => Console.Out.WriteLine($"deleted {dataset} version {number}"));
            }

            await CliHost.DeletingAsync(() => client.DeleteDatasetAsync(dataset, parse.GetValue(force), ct));
            return CliHost.Print(parse, new { deleted = dataset }, _ => Console.Out.WriteLine($"deleted {dataset}"));
        });
        return command;
    }

    // Creates the dataset; true when this command created it, false when it exists (a new version of it is pushed).
    private static async Task<bool> EnsureDatasetAsync(MaasClient client, string dataset, string? visibility, string? description, CancellationToken ct)
    {
        try
        {
            await client.CreateDatasetAsync(dataset, visibility, description, ct);
            return true;
        }
        catch (MaasApiException e) when (e.Code == "dataset_exists")
        {
            return false;
        }
    }

    // One upload of the file: through a resumable session (its id printed as it starts) when chunks are given.
    private static async Task<DatasetVersionInfo> UploadAsync(
        ParseResult parse, MaasClient client, string dataset, FileInfo path, DatasetUploadOptions options, ResumableUploadOptions? chunks, IProgress<long> progress,
        CancellationToken ct)
    {
        if (chunks is not null)
        {
            return await client.UploadDatasetVersionResumableAsync(
                dataset,
                path.FullName,
                options,
                chunks,
                session =>
                {
                    if (!parse.WantsJson())
                    {
                        Console.Out.WriteLine($"upload session {session.Id} (if interrupted: maas datasets push {dataset} {path.Name} --resume {session.Id})");
                    }
                },
                progress,
                ct);
        }

        await using var stream = path.OpenRead();
        return await client.UploadDatasetVersionAsync(dataset, stream, path.Name, options, progress, ct);
    }

    /// <summary>The schema with each column's statistics, as one table.</summary>
    private static void DescribeVersion(DatasetVersionInfo v)
    {
        var stats = (v.Statistics ?? []).ToDictionary(s => s.Name, StringComparer.Ordinal);
        var table = CliHost.Table("COLUMN", "TYPE", "COUNT", "MISSING", "DISTINCT", "MIN", "MAX", "MEAN", "CLASSES");
        foreach (var column in v.Schema)
        {
            stats.TryGetValue(column.Name, out var s);
            var type = column.Shape is { Count: > 0 } shape ? $"{column.Type} [{string.Join(", ", shape)}]" : column.Type;
            // Rows per value say something for labels and categories, not for a measured number unique on each row.
            var classes = s?.ClassBalance is { } balance && (column.Type != "number" || balance.Count <= 20)
                ? string.Join(", ", balance.Take(6).Select(kv => $"{kv.Key}: {kv.Value}")) + (balance.Count > 6 ? $" (+{balance.Count - 6})" : "")
                : null;
            table.Row(column.Name, type, s?.Count, s?.Missing, s?.Distinct is { } d ? $"{d}{(s.DistinctCapped == true ? "+" : "")}" : null, s?.Min, s?.Max, s?.Mean, classes);
        }

        AnsiConsole.Write(table);
    }

    private static string Cell(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString() ?? "",
        JsonValueKind.Null => "",
        // Images come as nested arrays of pixels: their size says more than their values.
        JsonValueKind.Array => $"{string.Join("x", ShapeOf(value))} image",
        _ => value.GetRawText(),
    };

    // The lengths of nested arrays, outermost first: [28, 28] for a grey picture, [32, 32, 3] for a colour one.
    private static List<int> ShapeOf(JsonElement value)
    {
        var shape = new List<int>();
        while (value.ValueKind == JsonValueKind.Array)
        {
            shape.Add(value.GetArrayLength());
            if (value.GetArrayLength() == 0)
            {
                break;
            }

            value = value[0];
        }

        return shape;
    }
}
