using System.CommandLine;
using System.Text.Json;
using Maas.Cli.Hosting;
using Spectre.Console;

namespace Maas.Cli.Commands;

/// <summary><c>maas ps</c>: the loaded models (ONNX versions and LLM engines) and the server process's memory (admin).</summary>
public static class PsCommand
{
    /// <summary>The <c>ps</c> command.</summary>
    public static Command Create()
    {
        var command = new Command("ps", "Loaded models and the server's memory (admin key)");
        command.SetAction(async (parse, client, ct) =>
        {
            var status = await client.StatusAsync(ct);
            return CliHost.Print(parse, status, s =>
            {
                var table = CliHost.Table("MODEL", "VERSION", "ENGINE", "STATE", "SLOTS x CONTEXT", "KV FILL", "ACTIVE");
                foreach (var m in s.Onnx)
                {
                    table.Row(m.Name, m.Version, "onnxruntime", m.State, "", "", "");
                }

                foreach (var e in s.Llm)
                {
                    var info = e.Info;
                    var slots = info is { } i && i.TryGetProperty("slots", out var sl) && i.TryGetProperty("context_per_slot", out var cx) ? $"{sl} x {cx}" : "";
                    var fill = e.Statistics is { } st && st.TryGetProperty("kv_fill", out var f) && f.ValueKind == JsonValueKind.Number ? $"{f.GetDouble() * 100:0.#}%" : "";
                    table.Row(e.Model, e.Version, "llama.cpp", "READY", slots, fill, e.ActiveRequests);
                }

                AnsiConsole.Write(table);
                foreach (var (name, value) in s.Process)
                {
                    Console.Out.WriteLine(name.EndsWith("_bytes", StringComparison.Ordinal) ? $"{name}: {CliHost.Bytes((long)value)}" : $"{name}: {CliHost.Format(value)}");
                }
            });
        });
        return command;
    }
}
