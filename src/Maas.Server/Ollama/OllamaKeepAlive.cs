using System.Globalization;
using System.Text.Json;
using Maas.Core.Hosting;
using Maas.Core.Llm;
using Maas.Server.Auth;
using Maas.Server.OpenAi;

namespace Maas.Server.Ollama;

/// <summary>
/// Ollama's <c>keep_alive</c>: how long the model stays loaded after this request. A duration in Go's syntax
/// (<c>"5m"</c>, <c>"1h30m"</c>, <c>"0"</c>) or a number of seconds; 0 unloads the model once the request is done;
/// a negative value (or more than a year) keeps it loaded until evicted for memory or unloaded by an operator.
/// </summary>
/// <param name="Duration">The time to stay loaded; zero: unload at once; <see cref="Timeout.InfiniteTimeSpan"/>: forever.</param>
internal readonly record struct OllamaKeepAlive(TimeSpan Duration)
{
    // The longest keep-alive a model's serving configuration takes (keep_alive_seconds); longer is forever.
    private const double LongestSeconds = 31_536_000;

    /// <summary>keep_alive 0: the model is unloaded as soon as no request holds it.</summary>
    public bool UnloadNow => Duration == TimeSpan.Zero;

    /// <summary>
    /// The model host's keep-alive for it: zero there means "stay loaded", so forever maps to zero and 0 to
    /// <see cref="ModelHost.UnloadWhenIdle"/>, which the host's idle sweep unloads once the last request ends.
    /// </summary>
    public TimeSpan HostKeepAlive => Duration == Timeout.InfiniteTimeSpan ? TimeSpan.Zero : UnloadNow ? ModelHost.UnloadWhenIdle : Duration;

    /// <summary>Reads <c>keep_alive</c> from a request body; null when it is absent (the model's own keep-alive applies).</summary>
    public static OllamaKeepAlive? Read(JsonElement body)
    {
        if (!body.TryGetProperty("keep_alive", out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        switch (value.ValueKind)
        {
            case JsonValueKind.Number when value.TryGetDouble(out var seconds):
                return FromSeconds(seconds);
            case JsonValueKind.String when TryParseDuration(value.GetString()!, out var parsed):
                return FromSeconds(parsed);
            case JsonValueKind.String:
                var text = value.GetString()!;
                throw LlmException.Invalid(
                    $"'keep_alive' must be a duration such as \"5m\", \"1h30m\" or \"0\" (units ns, us, ms, s, m, h) or a number of seconds, not " +
                    $"\"{(text.Length <= 40 ? text : text[..40] + "...")}\"",
                    "keep_alive");
            default:
                throw LlmException.Invalid("'keep_alive' must be a duration string such as \"5m\" or a number of seconds", "keep_alive");
        }
    }

    /// <summary>
    /// Parses a duration as Go's <c>time.ParseDuration</c> does (Ollama decodes keep_alive with it): an optional sign,
    /// then one or more decimal numbers each with a unit (ns, us, µs, ms, s, m, h); a bare <c>0</c> needs none.
    /// </summary>
    public static bool TryParseDuration(string text, out double seconds)
    {
        seconds = 0;
        var s = text.AsSpan();
        var negative = s.Length > 0 && s[0] == '-';
        if (s.Length > 0 && s[0] is '-' or '+')
        {
            s = s[1..];
        }

        if (s is "0")
        {
            return true;
        }

        if (s.IsEmpty)
        {
            return false;
        }

        while (!s.IsEmpty)
        {
            var digits = 0;
            while (digits < s.Length && (char.IsAsciiDigit(s[digits]) || s[digits] == '.'))
            {
                digits++;
            }

            var number = s[..digits];
            if (number.IsEmpty || number is "." || number.Count('.') > 1
                || !double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount))
            {
                return false;
            }

            s = s[digits..];
            var unitLength = 0;
            while (unitLength < s.Length && !char.IsAsciiDigit(s[unitLength]) && s[unitLength] != '.')
            {
                unitLength++;
            }

            double? scale = s[..unitLength] switch
            {
                "ns" => 1e-9,
                "us" or "µs" or "μs" => 1e-6,
                "ms" => 1e-3,
                "s" => 1,
                "m" => 60,
                "h" => 3600,
                _ => null,
            };
            if (scale is null)
            {
                return false;
            }

            seconds += amount * scale.Value;
            s = s[unitLength..];
        }

        seconds = negative ? -seconds : seconds;
        return true;
    }

    /// <summary>
    /// After a request that asked for keep_alive 0 let go of its model: the host's idle sweep, run now, unloads it (when
    /// another request still holds it, the periodic sweep does once that one ends, as Ollama waits for its requests).
    /// </summary>
    public static async Task AfterRequestAsync(OllamaKeepAlive? keepAlive, ModelHost host)
    {
        if (keepAlive is { UnloadNow: true })
        {
            await host.UnloadIdleAsync();
        }
    }

    /// <summary>
    /// keep_alive 0 without a prompt: the version a call would reach is unloaded now, without being loaded first when it
    /// is not (Ollama's documented way to unload a model). Access is checked as for a call.
    /// </summary>
    public static async Task UnloadAsync(HttpContext context, LlmGenerationService service, ModelHost host, string reference, CancellationToken cancellationToken)
    {
        var (resolved, _) = await service.ResolveAsync(context, reference, cancellationToken);
        // The model resolved: usage and the request metrics name it, and the answer its version, as for any call.
        context.Usage().ReportModel(resolved.Spec.Name, resolved.Spec.Version);
        Deployments.DeploymentRouter.SetVersionHeader(context, resolved.Spec.Version.ToString(CultureInfo.InvariantCulture));
        if (host.KeepAliveFor(resolved.Request.Key, ModelHost.UnloadWhenIdle))
        {
            await host.UnloadIdleAsync();
        }
    }

    private static OllamaKeepAlive FromSeconds(double seconds) =>
        seconds < 0 || seconds > LongestSeconds ? new(Timeout.InfiniteTimeSpan)
        : seconds == 0 ? new(TimeSpan.Zero)
        : new(TimeSpan.FromTicks(Math.Max(1, (long)Math.Ceiling(seconds * TimeSpan.TicksPerSecond))));
}
