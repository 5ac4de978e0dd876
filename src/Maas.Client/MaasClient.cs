using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace Maas.Client;

/// <summary>
/// A typed client for the MaaS HTTP API: the registry, tenants and keys, usage, jobs, Open Inference Protocol v2
/// inference and OpenAI-compatible chat. Every failure the server answers surfaces as a <see cref="MaasApiException"/>
/// with its status, stable code and message.
/// </summary>
public sealed partial class MaasClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;

    /// <summary>A client for the server at <paramref name="baseAddress"/> that sends <paramref name="apiKey"/> (none when null).</summary>
    public MaasClient(Uri baseAddress, string? apiKey, HttpMessageHandler? handler = null)
    {
        ArgumentNullException.ThrowIfNull(baseAddress);
        // Uploads and streams last as long as they last; callers bound them with a cancellation token.
        _http = new HttpClient(handler ?? new SocketsHttpHandler(), disposeHandler: true)
        {
            BaseAddress = new Uri(baseAddress.ToString().TrimEnd('/') + "/"),
            Timeout = Timeout.InfiniteTimeSpan,
        };
        if (!string.IsNullOrEmpty(apiKey))
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }

        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("maas-client", typeof(MaasClient).Assembly.GetName().Version?.ToString(3) ?? "0"));
        _ownsHttp = true;
    }

    /// <summary>A client over an <see cref="HttpClient"/> the caller configured (base address, key, handlers).</summary>
    public MaasClient(HttpClient http)
    {
        _http = http ?? throw new ArgumentNullException(nameof(http));
        _ownsHttp = false;
    }

    /// <summary>The server's address.</summary>
    public Uri BaseAddress => _http.BaseAddress!;

    /// <summary>The underlying HTTP client (for routes this client does not wrap).</summary>
    public HttpClient Http => _http;

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }

    internal static string Escape(string segment) => Uri.EscapeDataString(segment);

    internal static string Query(params (string Name, string? Value)[] parameters)
    {
        var parts = parameters.Where(p => !string.IsNullOrEmpty(p.Value)).Select(p => $"{p.Name}={Uri.EscapeDataString(p.Value!)}").ToArray();
        return parts.Length == 0 ? "" : "?" + string.Join('&', parts);
    }

    internal async Task<T> SendAsync<T>(HttpMethod method, string path, object? body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path) { Content = JsonBody(body) };
        using var response = await SendRawAsync(request, cancellationToken);
        return await ReadAsync<T>(response, cancellationToken);
    }

    internal async Task SendAsync(HttpMethod method, string path, object? body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path) { Content = JsonBody(body) };
        using var response = await SendRawAsync(request, cancellationToken);
    }

    /// <summary>Sends and checks the status; a non-success answer becomes a <see cref="MaasApiException"/>.</summary>
    internal async Task<HttpResponseMessage> SendRawAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            using (response)
            {
                throw await MaasApiException.FromResponseAsync(response, cancellationToken);
            }
        }

        return response;
    }

    internal static async Task<T> ReadAsync<T>(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            return await response.Content.ReadFromJsonAsync<T>(MaasJson.Options, cancellationToken)
                ?? throw new MaasApiException(response.StatusCode, "invalid_response", "the server answered with an empty body");
        }
        catch (JsonException e)
        {
            throw new MaasApiException(response.StatusCode, "invalid_response", $"the server's answer is not the expected JSON: {e.Message}");
        }
    }

    internal static HttpContent? JsonBody(object? body) =>
        body is null ? null : JsonContent.Create(body, body.GetType(), new MediaTypeHeaderValue("application/json"), MaasJson.Options);
}
