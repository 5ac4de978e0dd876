using Maas.Client;

namespace Maas.Cli.Hosting;

/// <summary>
/// Takes away a model or dataset a command created for a version that never came (an upload or import refused or
/// interrupted), unless it has a version by now (someone else's push). Best effort: the failure being reported
/// matters more.
/// </summary>
internal static class EmptyLeftovers
{
    /// <summary>Deletes the model if it has no version.</summary>
    public static Task RemoveModelAsync(MaasClient client, string model) => RemoveAsync(
        async ct => (await client.GetModelAsync(model, ct)).Versions is null or { Count: 0 },
        ct => client.DeleteModelAsync(model, force: false, ct));

    /// <summary>Deletes the dataset if it has no version.</summary>
    public static Task RemoveDatasetAsync(MaasClient client, string dataset) => RemoveAsync(
        async ct => (await client.GetDatasetAsync(dataset, ct)).Versions is null or { Count: 0 },
        ct => client.DeleteDatasetAsync(dataset, force: false, ct));

    private static async Task RemoveAsync(Func<CancellationToken, Task<bool>> isEmpty, Func<CancellationToken, Task> delete)
    {
        // Not the command's token: it may be the one Ctrl+C cancelled.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            if (await isEmpty(timeout.Token))
            {
                await delete(timeout.Token);
            }
        }
        catch (Exception e) when (e is MaasApiException or HttpRequestException or OperationCanceledException)
        {
            // Left as it is; the command's own error is what the user sees.
        }
    }
}
