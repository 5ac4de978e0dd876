using System.CommandLine;
using System.Text.Json;
using Maas.Cli.Hosting;
using Maas.Client;
using Maas.Client.FineTuning;

namespace Maas.Cli.Commands;

/// <summary><c>maas fine-tune MODEL FILE</c>: uploads the chats, creates the fine-tuning job and follows it.</summary>
public static class FineTuneCommand
{
    /// <summary>The <c>fine-tune</c> command.</summary>
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "The base: a GGUF LLM of the registry (name or name:alias)" };
        var file = new Argument<FileInfo>("file") { Description = "Training chats, JSON Lines of {\"messages\": [...]}" };
        var validation = new Option<FileInfo?>("--validation-file") { Description = "Validation chats (evaluated each epoch, never trained on)" };
        var epochs = new Option<int?>("--epochs") { Description = "n_epochs (default: the server's)" }.Between(1, int.MaxValue);
        var batch = new Option<int?>("--batch-size") { Description = "Chats per optimizer step (default auto)" }.Between(1, 256);
        var rate = new Option<double?>("--lr-multiplier") { Description = "learning_rate_multiplier" }.Within(0, 1000, aboveMin: true);
        var suffix = new Option<string?>("--suffix") { Description = "The result goes into <base>-ft-<suffix>" };
        var seed = new Option<int?>("--seed") { Description = "Seed of the window order" }.Between(0, int.MaxValue);
        var noWait = new Option<bool>("--no-wait") { Description = "Print the job and return at once" };
        var command = new Command("fine-tune", "Fine-tune an LLM on chats: upload the file, create the job, follow it with the loss per epoch")
        {
            model, file, validation, epochs, batch, rate, suffix, seed, noWait,
        };
        command.SetAction(async (parse, client, ct) =>
        {
            // Both files are checked before either is sent: a missing validation file left the training file uploaded.
            foreach (var path in new[] { parse.GetValue(file)!, parse.GetValue(validation) }.OfType<FileInfo>())
            {
                if (!path.Exists)
                {
                    throw new CliException("file_not_found", $"no file {path.FullName}");
                }
            }

            var training = await UploadAsync(parse, client, parse.GetValue(file)!, ct);
            FileInfoObject? validating = null;
            var hyperparameters = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            if (parse.GetValue(epochs) is { } n)
            {
                hyperparameters["n_epochs"] = JsonSerializer.SerializeToElement(n);
            }

            if (parse.GetValue(batch) is { } b)
            {
                hyperparameters["batch_size"] = JsonSerializer.SerializeToElement(b);
            }

            if (parse.GetValue(rate) is { } r)
            {
                hyperparameters["learning_rate_multiplier"] = JsonSerializer.SerializeToElement(r);
            }

            FineTuningJobInfo job;
            try
            {
                validating = parse.GetValue(validation) is { } v ? await UploadAsync(parse, client, v, ct) : null;
                job = await client.CreateFineTuningJobAsync(
                    new FineTuningRequest
                    {
                        Model = parse.GetValue(model)!,
                        TrainingFile = training.Id,
                        ValidationFile = validating?.Id,
                        Hyperparameters = hyperparameters.Count > 0 ? hyperparameters : null,
                        Suffix = parse.GetValue(suffix),
                        Seed = parse.GetValue(seed),
                    },
                    ct);
            }
            catch
            {
                // A refused validation file or job left the files this command uploaded on the server, for nothing.
                await DeleteQuietlyAsync(client, [training, validating]);
                throw;
            }

            if (parse.GetValue(noWait))
            {
                return CliHost.Print(parse, job, j => Console.Out.WriteLine($"created fine-tuning job {j.Id} ({j.Status}); follow it with: maas jobs logs {j.Id}"));
            }

            if (!parse.WantsJson())
            {
                Console.Out.WriteLine($"fine-tuning job {job.Id}: {job.Model} on {training.Filename} ({training.Id})");
            }

            var ended = await WorkerJobFollower.FollowAsync(
                parse,
                client,
                job.Id,
                new WorkerJobFollower.Reader<FineTuningJobInfo>(token => client.GetFineTuningJobAsync(job.Id, token), j => j.Finished, j => j.Progress ?? 0, j => j.Status),
                ct);
            if (parse.WantsJson())
            {
                CliHost.PrintJson(ended);
            }
            else if (ended.Status == "succeeded")
            {
                Console.Out.WriteLine($"job {ended.Id} succeeded: chat with {ended.FineTunedModel} ({ended.TrainedTokens} tokens trained)");
            }

            return ended.Status switch
            {
                "succeeded" => ExitCodes.Ok,
                "failed" => CliHost.Fail(ended.Error?.Code ?? "job_failed", $"job {ended.Id} failed: {ended.Error?.Message ?? "no reason given"}", ExitCodes.JobFailed),
                _ => CliHost.Fail("job_cancelled", $"job {ended.Id} was cancelled", ExitCodes.JobFailed),
            };
        });
        return command;
    }

    private static async Task DeleteQuietlyAsync(MaasClient client, FileInfoObject?[] files)
    {
        foreach (var uploaded in files.OfType<FileInfoObject>())
        {
            try
            {
                await client.DeleteFileAsync(uploaded.Id, CancellationToken.None);
            }
            catch (Exception e) when (e is MaasApiException or HttpRequestException)
            {
                Console.Error.WriteLine($"note: could not delete the uploaded file {uploaded.Id}: {e.Message}");
            }
        }
    }

    private static async Task<FileInfoObject> UploadAsync(ParseResult parse, MaasClient client, FileInfo path, CancellationToken ct)
    {
        if (!path.Exists)
        {
            throw new CliException("file_not_found", $"no file {path.FullName}");
        }

        var uploaded = await ProgressDisplay.RunAsync(parse, $"uploading {path.Name}", path.Length, bytes: true,
            progress => client.UploadFileAsync(path.FullName, "fine-tune", progress, ct));
        if (!parse.WantsJson())
        {
            Console.Out.WriteLine($"uploaded {path.Name} as {uploaded.Id}");
        }

        return uploaded;
    }
}
