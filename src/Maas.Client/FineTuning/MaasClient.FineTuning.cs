using System.Globalization;
using System.Net.Http.Headers;
using Maas.Client.FineTuning;
using Maas.Client.Registry;

namespace Maas.Client;

/// <summary>Fine-tuning through OpenAI's files and fine-tuning routes.</summary>
public sealed partial class MaasClient
{
    /// <summary>Uploads a JSON Lines file of chats (purpose <c>fine-tune</c>), reporting the bytes sent.</summary>
    public async Task<FileInfoObject> UploadFileAsync(string path, string purpose = "fine-tune", IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        await using var stream = File.OpenRead(path);
        using var form = new MultipartFormDataContent { { new StringContent(purpose), "purpose" } };
        var file = new StreamContent(new ProgressStream(stream, 0, progress), 1 << 20);
        file.Headers.ContentType = new MediaTypeHeaderValue("application/jsonl");
        file.Headers.ContentLength = stream.Length;
        form.Add(file, "file", Path.GetFileName(path));
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/files") { Content = form };
        using var response = await SendRawAsync(request, cancellationToken);
        return await ReadAsync<FileInfoObject>(response, cancellationToken);
    }

    /// <summary>Deletes an uploaded file (<c>DELETE /v1/files/{id}</c>).</summary>
    public Task DeleteFileAsync(string id, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Delete, $"v1/files/{Escape(id)}", null, cancellationToken);

    /// <summary>Creates a fine-tuning job.</summary>
    public Task<FineTuningJobInfo> CreateFineTuningJobAsync(FineTuningRequest request, CancellationToken cancellationToken = default) =>
        SendAsync<FineTuningJobInfo>(HttpMethod.Post, "v1/fine_tuning/jobs", request, cancellationToken);

    /// <summary>One fine-tuning job.</summary>
    public Task<FineTuningJobInfo> GetFineTuningJobAsync(string id, CancellationToken cancellationToken = default) =>
        SendAsync<FineTuningJobInfo>(HttpMethod.Get, $"v1/fine_tuning/jobs/{Escape(id)}", null, cancellationToken);

    /// <summary>The newest fine-tuning jobs.</summary>
    public Task<OpenAiList<FineTuningJobInfo>> ListFineTuningJobsAsync(int? limit = null, CancellationToken cancellationToken = default) =>
        SendAsync<OpenAiList<FineTuningJobInfo>>(HttpMethod.Get, "v1/fine_tuning/jobs" + Query(("limit", limit?.ToString(CultureInfo.InvariantCulture))), null, cancellationToken);

    /// <summary>A job's events, newest first.</summary>
    public Task<OpenAiList<FineTuningEvent>> ListFineTuningEventsAsync(string id, int? limit = null, CancellationToken cancellationToken = default) =>
        SendAsync<OpenAiList<FineTuningEvent>>(HttpMethod.Get, $"v1/fine_tuning/jobs/{Escape(id)}/events" + Query(("limit", limit?.ToString(CultureInfo.InvariantCulture))), null,
        cancellationToken);

    /// <summary>Asks a fine-tuning job to stop.</summary>
    public Task<FineTuningJobInfo> CancelFineTuningJobAsync(string id, CancellationToken cancellationToken = default) =>
        SendAsync<FineTuningJobInfo>(HttpMethod.Post, $"v1/fine_tuning/jobs/{Escape(id)}/cancel", null, cancellationToken);
}
