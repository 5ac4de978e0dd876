using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Maas.Cli.Hosting;
using Maas.Cli.Images;
using Maas.Client;
using Maas.Client.Inference;
using Spectre.Console;

namespace Maas.Cli.Commands;

/// <summary>
/// <c>maas infer MODEL</c>: runs an ONNX model over the Open Inference Protocol with tensors from JSON (text, a file or
/// stdin) or a picture turned into the model's image input.
/// </summary>
public static class InferCommand
{
    /// <summary>The <c>infer</c> command.</summary>
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "Model reference: name, name:alias or name/versions/N" };
        var data = new Argument<string?>("data")
        {
            Description = "Tensors as JSON: a full v2 request {\"inputs\": [...]}, {\"input name\": nested array}, or a nested array for a one-input model; '-' reads stdin",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var file = new Option<FileInfo?>("--file", "-f") { Description = "Read the JSON from this file (a .ppm, .jpg or .png picture is taken as --image)" };
        var image = new Option<FileInfo?>("--image")
        {
            Description = "A picture (PPM, JPEG, PNG) for an image model (3 channels, or 1: the picture's luma): resized to the " +
            "model's input and normalised per --preset"
        };
        var preset = new Option<string>("--preset")
        {
            Description = "Pixel normalisation: unit (x/255), imagenet (unit, then mean/std), symmetric ((x-127)/128), raw (0-255)",
            DefaultValueFactory = _ => "unit"
        };
        preset.AcceptOnlyFromAmong("unit", "imagenet", "symmetric", "raw");
        var size = new Option<string?>("--size") { Description = "WIDTHxHEIGHT for a model whose image size is dynamic (default 224x224)" };
        var top = new Option<int>("--top") { Description = "Show the K largest values of each output", DefaultValueFactory = _ => 5 };
        var command = new Command("infer", "Run an ONNX model on tensors (JSON) or a picture") { model, data, file, image, preset, size, top };
        command.SetAction(async (parse, client, ct) =>
        {
            if (parse.GetValue(top) < 1)
            {
                throw new CliException("usage", $"--top must be 1 or more, not {parse.GetValue(top)}", ExitCodes.Usage);
            }

            var reference = parse.GetValue(model)!;
            var imagePath = parse.GetValue(image)?.FullName;
            string? json = parse.GetValue(data);
            if (parse.GetValue(file) is { } input)
            {
                if (!input.Exists)
                {
                    throw new CliException("file_not_found", $"no file {input.FullName}");
                }

                if (input.Extension.ToLowerInvariant() is ".ppm" or ".pnm" or ".png" or ".jpg" or ".jpeg" or ".webp" or ".bmp")
                {
                    imagePath = input.FullName;
                }
                else
                {
                    json = await File.ReadAllTextAsync(input.FullName, ct);
                }
            }

            if (json == "-")
            {
                json = await Console.In.ReadToEndAsync(ct);
            }

            InferRequest request;
            if (imagePath is not null)
            {
                if (!File.Exists(imagePath))
                {
                    throw new CliException("file_not_found", $"no file {imagePath}");
                }

                var picture = RgbImage.Load(imagePath); // a bad file fails here, before any request
                request = ImageRequest(await client.GetModelMetadataAsync(reference, ct), picture, parse.GetValue(preset)!, parse.GetValue(size));
            }
            else if (!string.IsNullOrWhiteSpace(json))
            {
                request = await JsonRequestAsync(client, reference, json, ct);
            }
            else
            {
                throw new CliException("missing_input", "give the tensors as JSON (argument, --file or '-' for stdin) or a picture with --image", ExitCodes.Usage);
            }

            var response = await client.InferAsync(reference, request, ct);
            // Only the table names classes; --json stays the server's answer as it is.
            var labels = parse.WantsJson() ? null : await InferLabels.ReadAsync(client, response, ct);
            return CliHost.Print(parse, response, r => PrintOutputs(r, parse.GetValue(top), labels));
        });
        return command;
    }

    private static async Task<InferRequest> JsonRequestAsync(MaasClient client, string reference, string json, CancellationToken ct)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json);
        }
        catch (JsonException e)
        {
            throw new CliException("invalid_json", $"the input is not JSON: {e.Message}", ExitCodes.Usage);
        }

        if (node is JsonObject whole && whole.ContainsKey("inputs"))
        {
            return whole.Deserialize<InferRequest>(MaasJson.Options)
                ?? throw new CliException("invalid_json", "the request has no inputs", ExitCodes.Usage);
        }

        var metadata = await client.GetModelMetadataAsync(reference, ct);
        var named = node switch
        {
            JsonObject map => map.Select(kv => (kv.Key, kv.Value)).ToList(),
            JsonArray or JsonValue when metadata.Inputs.Count == 1 => [(metadata.Inputs[0].Name, node)],
            _ => throw new CliException("invalid_input",
                $"the model has {metadata.Inputs.Count} inputs ({string.Join(", ", metadata.Inputs.Select(i => i.Name))}): give {{\"input name\": values, ...}}", ExitCodes.Usage),
        };
        var tensors = new List<InferTensor>();
        foreach (var (name, value) in named)
        {
            var spec = metadata.Inputs.FirstOrDefault(i => i.Name == name)
                ?? throw new CliException("invalid_input", $"the model has no input '{name}' (it has {string.Join(", ", metadata.Inputs.Select(i => i.Name))})", ExitCodes.Usage);
            var shape = ShapeOf(value);
            if (shape.Count == spec.Shape.Count - 1)
            {
                // One example without the batch dimension: a batch of one.
                shape.Insert(0, 1);
            }

            tensors.Add(new InferTensor(name, spec.Datatype, shape, value?.DeepClone()));
        }

        return new InferRequest(tensors);
    }

    private static List<long> ShapeOf(JsonNode? value)
    {
        var shape = new List<long>();
        while (value is JsonArray array)
        {
            shape.Add(array.Count);
            value = array.Count > 0 ? array[0] : null;
        }

        return shape;
    }

    /// <summary>
    /// A request whose image input (rank 4 with 3 channels, or 1 for a grey picture, first or last) holds the picture,
    /// resized and normalised; a colour picture given to a grey input is turned into its luma (ITU-R BT.601).
    /// </summary>
    public static InferRequest ImageRequest(ModelMetadata metadata, RgbImage picture, string preset, string? size)
    {
        static bool Channels(IReadOnlyList<long> shape, int channels) => shape.Count == 4 && (shape[1] == channels || shape[3] == channels);
        var spec = metadata.Inputs.FirstOrDefault(i => Channels(i.Shape, 3)) ?? metadata.Inputs.FirstOrDefault(i => Channels(i.Shape, 1))
            ?? throw new CliException("not_an_image_model", $"model {metadata.Name} has no image input (rank 4 with 3 channels, or 1 for grey pictures); its inputs: " +
                $"{string.Join(", ", metadata.Inputs.Select(i => $"{i.Name} [{string.Join(",", i.Shape)}]"))}", ExitCodes.Usage);
        var channels = Channels(spec.Shape, 3) ? 3 : 1;
        var channelsFirst = spec.Shape[1] == channels;
        long height = channelsFirst ? spec.Shape[2] : spec.Shape[1];
        long width = channelsFirst ? spec.Shape[3] : spec.Shape[2];
        if (height <= 0 || width <= 0)
        {
            (width, height) = ParseSize(size);
        }

        var scaled = picture.Resize((int)width, (int)height);
        var (mean, std) = preset switch
        {
            // A grey input takes ImageNet's statistics averaged over the three channels.
            "imagenet" => channels == 3 ? (new[] { 0.485, 0.456, 0.406 }, new[] { 0.229, 0.224, 0.225 }) : (new[] { 0.449 }, new[] { 0.226 }),
            "symmetric" => (new[] { 127.0 / 255, 127.0 / 255, 127.0 / 255 }, new[] { 128.0 / 255, 128.0 / 255, 128.0 / 255 }),
            _ => (new[] { 0.0, 0.0, 0.0 }, new[] { 1.0, 1.0, 1.0 }),
        };
        var raw = preset == "raw" || spec.Datatype == "UINT8";
        var values = new JsonArray();
        var pixels = (int)(width * height);
        for (var i = 0; i < pixels * channels; i++)
        {
            // Channels first: all reds, all greens, all blues; channels last: pixel by pixel.
            var (pixel, channel) = channelsFirst ? (i % pixels, i / pixels) : (i / channels, i % channels);
            double sample = channels == 3
                ? scaled.Pixels[(pixel * 3) + channel]
                : Math.Round((0.299 * scaled.Pixels[pixel * 3]) + (0.587 * scaled.Pixels[(pixel * 3) + 1]) + (0.114 * scaled.Pixels[(pixel * 3) + 2]));
            values.Add(raw ? (byte)sample : (float)(((sample / 255.0) - mean[channel]) / std[channel]));
        }

        long[] shape = channelsFirst ? [1, channels, height, width] : [1, height, width, channels];
        return new InferRequest([new InferTensor(spec.Name, raw && spec.Datatype == "UINT8" ? "UINT8" : spec.Datatype, shape, values)]);
    }

    private static (long Width, long Height) ParseSize(string? size)
    {
        if (size is null)
        {
            return (224, 224);
        }

        var parts = size.Split('x', 'X');
        return parts.Length == 2 && int.TryParse(parts[0], CultureInfo.InvariantCulture, out var w) && int.TryParse(parts[1], CultureInfo.InvariantCulture, out var h) && w > 0 &&
            h > 0
            ? (w, h)
            : throw new CliException("invalid_size", $"--size '{size}' is not WIDTHxHEIGHT", ExitCodes.Usage);
    }

    private static void PrintOutputs(InferResponse response, int top, IReadOnlyDictionary<string, IReadOnlyList<string>>? labels)
    {
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(response.ModelName)}[/] version {Markup.Escape(response.ModelVersion ?? "")}");
        var table = CliHost.Table("OUTPUT", "DATATYPE", "SHAPE", "VALUES", labels is null ? $"TOP {top} (index: value)" : $"TOP {top} (class: value)");
        foreach (var output in response.Outputs)
        {
            // Labels name the classes of one row: indexes into a batch of rows are counted per row.
            var names = labels?.GetValueOrDefault(output.Name);
            var classes = output.Shape.Count > 0 ? output.Shape[^1] : 0;
            if (names is not null && names.Count != classes)
            {
                names = null; // named for another shape: indexes only, as the server does
            }

            var flat = Flatten(output.Data).ToList();
            var numbers = flat.Select(v => v.GetValueKind() == JsonValueKind.Number ? v.GetValue<double>() : double.NaN).ToList();
            var best = numbers.Select((v, i) => (v, i)).Where(p => !double.IsNaN(p.v)).OrderByDescending(p => p.v).Take(Math.Max(0, top));
            table.Row(
                output.Name,
                output.Datatype,
                "[" + string.Join(",", output.Shape) + "]",
                string.Join(" ", flat.Take(8).Select(v => v.ToJsonString())) + (flat.Count > 8 ? $" ... ({flat.Count} values)" : ""),
                string.Join("  ", best.Select(p => string.Create(CultureInfo.InvariantCulture, $"{Class(p.i, names, classes)}: {p.v:0.####}"))));
        }

        AnsiConsole.Write(table);
    }

    private static string Class(int index, IReadOnlyList<string>? names, long classes) =>
        names is null ? index.ToString(CultureInfo.InvariantCulture)
        : classes > 0 && index >= classes ? $"{index / classes}/{names[(int)(index % classes)]}" // row/label beyond the first row
        : names[index];

    private static IEnumerable<JsonValue> Flatten(JsonNode? node)
    {
        if (node is JsonArray array)
        {
            foreach (var item in array)
            {
                foreach (var value in Flatten(item))
                {
                    yield return value;
                }
            }
        }
        else if (node is JsonValue value)
        {
            yield return value;
        }
    }
}
