using System.Net;
using Maas.Core.Registry.Import;
using Maas.Server.Tests.Support;
using Maas.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Registry;

/// <summary>Holds one model's import at one step (<see cref="ModelImporter.Checkpoint"/>) until the test releases it.</summary>
internal sealed class ImportHold
{
    private readonly TaskCompletionSource<ImportCheckpoint> _reached = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ImportHold(ImportStep step) => Step = step;

    public ImportStep Step { get; }

    public Task<ImportCheckpoint> Reached => _reached.Task.WaitAsync(Conditions.Ceiling);

    public void Release() => _released.TrySetResult();

    /// <summary>
    /// Installs a checkpoint on the server's importer that holds <paramref name="name"/>'s import at each hold's step (in
    /// order) and records every step it passes.
    /// </summary>
    public static List<ImportStep> Install(MaasTestServer server, string name, params ImportHold[] holds)
    {
        var passed = new List<ImportStep>();
        var importer = server.Services.GetRequiredService<ModelImporter>();
        var previous = importer.Checkpoint;
        importer.Checkpoint = async point =>
        {
            if (previous is not null)
            {
                await previous(point);
            }

            if (point.Model != name)
            {
                return;
            }

            lock (passed)
            {
                passed.Add(point.Step);
            }

            foreach (var hold in holds.Where(h => h.Step == point.Step))
            {
                await hold.AtAsync(point);
            }
        };
        return passed;
    }

    /// <summary>Starts an import of <paramref name="url"/> into model <paramref name="name"/>; returns the job id.</summary>
    public static async Task<string> StartImportAsync(HttpClient client, string name, Uri url, string extra = "")
    {
        using var response = await client.PostAsync($"api/v1/models/{name}/versions:import", Api.Json($$"""{"url": "{{url}}"{{extra}}}"""));
        return (string)(await response.JsonAsync(HttpStatusCode.Accepted))["id"]!;
    }

    /// <summary>Asserts that the answer to an import's cancel says it ended cancelled, with no result.</summary>
    public static async Task AssertCancelledAsync(Task<HttpResponseMessage> cancel)
    {
        using var response = await cancel.WaitAsync(Conditions.Ceiling);
        var job = await response.JsonAsync(HttpStatusCode.OK);
        Xunit.Assert.Equal("cancelled", (string?)job["status"]);
        Xunit.Assert.Equal("cancelled", (string?)job["error"]!["code"]);
        Xunit.Assert.Null(job["result"]);
    }

    private async Task AtAsync(ImportCheckpoint point)
    {
        _reached.TrySetResult(point);
        await _released.Task;
    }
}
