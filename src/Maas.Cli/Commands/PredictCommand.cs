using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Maas.Cli.Hosting;
using Maas.Client;
using Maas.Client.Inference;
using Spectre.Console;

namespace Maas.Cli.Commands;

/// <summary>
/// <c>maas predict MODEL</c>: scores rows of column values with a model trained from a table
/// (<c>POST /api/v1/models/{m}/predict</c>): JSON rows, or a CSV, TSV or JSON Lines file sent as it is.
/// </summary>
public static class PredictCommand
{
    /// <summary>The <c>predict</c> command.</summary>
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "Model reference: name, name:alias or name/versions/N" };
        var rows = new Argument<string?>("rows")
        {
            Description = "Rows as JSON: one object of column values, an array of them, or {\"instances\": [...]}; '-' reads stdin",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var file = new Option<FileInfo?>("--file",
            "-f")
        { Description = "Read the rows from a file: .csv, .tsv or .jsonl/.ndjson (a header row; columns that are not features are left out), else JSON" };
        var top = new Option<int>("--top") { Description = "Show the K most likely classes of each row", DefaultValueFactory = _ => 3 };
        var command = new Command("predict", "Score rows with a model trained from a table (maas train)") { model, rows, file, top };
        command.SetAction(async (parse, client, ct) =>
        {
            var reference = parse.GetValue(model)!;
            if (parse.GetValue(top) < 1)
            {
                throw new CliException("usage", $"--top must be 1 or more, not {parse.GetValue(top)}", ExitCodes.Usage);
            }

            RowPredictions answer;
            if (parse.GetValue(file) is { } input)
            {
                if (parse.GetValue(rows) is not null)
                {
                    throw new CliException("usage", "give the rows either as an argument or with --file, not both", ExitCodes.Usage);
                }

                if (!input.Exists)
                {
                    throw new CliException("file_not_found", $"no file {input.FullName}");
                }

                answer = TableType(input.Extension) is { } contentType
                    ? await SendFileAsync(client, reference, input, contentType, ct)
                    : await client.PredictRowsAsync(reference, Instances(await File.ReadAllTextAsync(input.FullName, ct)), ct);
            }
            else
            {
                var json = parse.GetValue(rows);
                if (json == "-")
                {
                    json = await Console.In.ReadToEndAsync(ct);
                }

                if (string.IsNullOrWhiteSpace(json))
                {
                    throw new CliException("missing_input", "give the rows as JSON (argument or '-' for stdin) or a file with --file", ExitCodes.Usage);
                }

                answer = await client.PredictRowsAsync(reference, Instances(json), ct);
            }

            return CliHost.Print(parse, answer, a => PrintPredictions(a, parse.GetValue(top)));
        });
        return command;
    }

    private static string? TableType(string extension) => extension.ToLowerInvariant() switch
    {
        ".csv" => "text/csv",
        ".tsv" or ".tab" => "text/tab-separated-values",
        ".jsonl" or ".ndjson" => "application/jsonl",
        _ => null,
    };

    private static async Task<RowPredictions> SendFileAsync(MaasClient client, string reference, FileInfo input, string contentType, CancellationToken ct)
    {
        await using var stream = input.OpenRead();
        return await client.PredictRowsAsync(reference, stream, contentType, ct);
    }

    // One row, an array of rows, or the request body itself; the server checks the columns against the model.
    private static JsonArray Instances(string json)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json);
        }
        catch (JsonException e)
        {
            throw new CliException("invalid_json", $"the rows are not JSON: {e.Message}", ExitCodes.Usage);
        }

        return node switch
        {
            JsonObject whole when whole["instances"] is JsonArray instances => (JsonArray)instances.DeepClone(),
            JsonObject row => [row.DeepClone()],
            JsonArray array => (JsonArray)array.DeepClone(),
            _ => throw new CliException("invalid_input", "the rows must be a JSON object of column values, an array of them, or {\"instances\": [...]}", ExitCodes.Usage),
        };
    }

    private static void PrintPredictions(RowPredictions answer, int top)
    {
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(answer.ModelName)}[/] version {Markup.Escape(answer.ModelVersion ?? "")}, {answer.Predictions.Count} " +
            $"{(answer.Predictions.Count == 1 ? "row" : "rows")}");
        if (answer.IgnoredColumns is { Count: > 0 } ignored)
        {
            AnsiConsole.MarkupLine(Markup.Escape($"left out (not features): {string.Join(", ", ignored)}"));
        }

        var classified = answer.Predictions.Any(p => p is JsonObject);
        var table = classified ? CliHost.Table("ROW", "LABEL", "PROBABILITY", $"TOP {top}") : CliHost.Table("ROW", "PREDICTION");
        for (var i = 0; i < answer.Predictions.Count; i++)
        {
            if (answer.Predictions[i] is JsonObject prediction)
            {
                var probabilities = (prediction["probabilities"] as JsonObject)?
                    .Select(p => (Class: p.Key, P: p.Value?.GetValueKind() == JsonValueKind.Number ? p.Value.GetValue<double>() : double.NaN))
                    .OrderByDescending(p => p.P)
                    .ToList() ?? [];
                var label = prediction["label"] is JsonValue value &&
                    value.GetValueKind() == JsonValueKind.String ? value.GetValue<string>() : prediction["label"]?.ToJsonString() ?? "";
                var own = probabilities.FirstOrDefault(p => p.Class == label);
                table.Row(
                    i,
                    label,
                    own.Class is null ? "" : Probability(own.P),
                    string.Join("  ", probabilities.Take(top).Select(p => $"{p.Class}: {Probability(p.P)}")));
            }
            else
            {
                table.Row(i, answer.Predictions[i]?.ToJsonString() ?? "");
            }
        }

        AnsiConsole.Write(table);
    }

    private static string Probability(double p) => p.ToString("0.####", CultureInfo.InvariantCulture);
}
