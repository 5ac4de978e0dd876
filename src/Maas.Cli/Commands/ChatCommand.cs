using System.CommandLine;
using System.Text;
using Maas.Cli.Hosting;
using Maas.Client;
using Maas.Client.Chat;
using Spectre.Console;

namespace Maas.Cli.Commands;

/// <summary>
/// <c>maas chat MODEL [PROMPT]</c>: talks to an LLM with the answer streamed as it is generated. With a prompt (or
/// text on stdin) it answers once; at a terminal without one it is a conversation until <c>/exit</c> or end of input.
/// </summary>
public static class ChatCommand
{
    /// <summary>The <c>chat</c> command.</summary>
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "LLM reference: name, name:alias or name/versions/N" };
        var prompt = new Argument<string?>("prompt")
        {
            Description = "Ask once and print the answer (else stdin when piped, else a conversation)",
            Arity = ArgumentArity.ZeroOrOne
        };
        var system = new Option<string?>("--system") { Description = "System prompt" };
        var maxTokens = new Option<int?>("--max-tokens") { Description = "Most tokens per answer" }.Between(1, int.MaxValue);
        var temperature = new Option<double?>("--temperature") { Description = "Sampling temperature (0 = greedy)" }.Within(0, 2);
        var seed = new Option<long?>("--seed") { Description = "Sampling seed" };
        var command = new Command("chat", "Chat with an LLM, streamed (one-shot with a prompt or stdin, interactive otherwise)") { model, prompt, system, maxTokens, temperature,
            seed };
        command.SetAction(async (parse, client, ct) =>
        {
            var history = new List<ChatMessage>();
            if (parse.GetValue(system) is { } systemPrompt)
            {
                history.Add(new ChatMessage("system", systemPrompt));
            }

            ChatRequest Request() => new(parse.GetValue(model)!, [.. history])
            {
                MaxTokens = parse.GetValue(maxTokens),
                Temperature = parse.GetValue(temperature),
                Seed = parse.GetValue(seed),
            };

            var text = parse.GetValue(prompt);
            if (text is null && Console.IsInputRedirected)
            {
                text = (await Console.In.ReadToEndAsync(ct)).Trim();
                if (text.Length == 0)
                {
                    throw new CliException("empty_prompt", "stdin was empty: give a prompt", ExitCodes.Usage);
                }
            }

            if (text is not null)
            {
                history.Add(new ChatMessage("user", text));
                var (answer, finish, usage) = await StreamAsync(client, Request(), echo: !parse.WantsJson(), ct);
                return CliHost.Print(parse, new ChatResult(parse.GetValue(model)!, answer, finish, usage), _ => { });
            }

            if (parse.WantsJson())
            {
                throw new CliException("missing_prompt", "--json needs a prompt (argument or stdin)", ExitCodes.Usage);
            }

            AnsiConsole.MarkupLine($"[grey]chatting with {Markup.Escape(parse.GetValue(model)!)}; /exit or Ctrl+D to end, /reset to forget the conversation[/]");
            while (!ct.IsCancellationRequested)
            {
                AnsiConsole.Markup("[bold green]>[/] ");
                var line = await Console.In.ReadLineAsync(ct);
                if (line is null || line.Trim() == "/exit")
                {
                    break;
                }

                if (line.Trim() == "/reset")
                {
                    history.RemoveAll(m => m.Role != "system");
                    continue;
                }

                if (line.Trim().Length == 0)
                {
                    continue;
                }

                history.Add(new ChatMessage("user", line));
                var (answer, _, _) = await StreamAsync(client, Request(), echo: true, ct);
                history.Add(new ChatMessage("assistant", answer));
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static async Task<(string Text, string? Finish, ChatUsage? Usage)> StreamAsync(MaasClient client, ChatRequest request, bool echo, CancellationToken ct)
    {
        var text = new StringBuilder();
        string? finish = null;
        ChatUsage? usage = null;
        var ended = false;
        try
        {
            await foreach (var delta in client.StreamChatAsync(request, ct))
            {
                if (delta.Content is { Length: > 0 } piece)
                {
                    text.Append(piece);
                    if (echo)
                    {
                        Console.Out.Write(piece);
                        Console.Out.Flush();
                    }
                }

                finish = delta.FinishReason ?? finish;
                usage = delta.Usage ?? usage;
            }

            ended = true;
        }
        finally
        {
            // The answer's line ends also when the stream failed part-way, so the error starts a line of its own.
            if (echo && (ended || text.Length > 0))
            {
                Console.Out.WriteLine();
            }
        }

        return (text.ToString(), finish, usage);
    }
}
