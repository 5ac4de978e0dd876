namespace Maas.Server.TensorInference;

/// <summary>Timeouts callers ask for: the "timeout" request parameter (REST and gRPC) and gRPC's grpc-timeout.</summary>
internal static class InferenceTimeouts
{
    /// <summary>
    /// The longest timer .NET runs (about 24.8 days). A longer timeout would throw in CancellationTokenSource, so it
    /// is taken as this one: Triton accepts any uint64 and a caller asking for more than weeks means "no timeout".
    /// </summary>
    public static readonly TimeSpan Longest = TimeSpan.FromMilliseconds(int.MaxValue);

    /// <summary>The "timeout" parameter (microseconds, as in Triton); null when absent, zero or not an integer.</summary>
    public static TimeSpan? FromParameters(IReadOnlyDictionary<string, object>? parameters) =>
        parameters?.TryGetValue("timeout", out var t) == true
            ? t switch
            {
                long us when us > 0 => FromMicroseconds((ulong)us),
                ulong us when us > 0 => FromMicroseconds(us),
                _ => null,
            }
            : null;

    /// <summary>A timeout no longer than <see cref="Longest"/>.</summary>
    public static TimeSpan Clamp(TimeSpan timeout) => timeout > Longest ? Longest : timeout;

    private static TimeSpan FromMicroseconds(ulong us) =>
        us >= (ulong)(Longest.Ticks / TimeSpan.TicksPerMicrosecond) ? Longest : TimeSpan.FromMicroseconds((long)us);
}
