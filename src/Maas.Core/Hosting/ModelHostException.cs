namespace Maas.Core.Hosting;

/// <summary>A model the host could not provide, with the reason.</summary>
public sealed class ModelHostException(ModelHostErrorKind kind, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>What went wrong.</summary>
    public ModelHostErrorKind Kind { get; } = kind;

    /// <summary>For <see cref="ModelHostErrorKind.DoesNotFit"/> and <see cref="ModelHostErrorKind.QuotaExceeded"/>: the limit in bytes.</summary>
    public long? LimitBytes { get; init; }

    /// <summary>For <see cref="ModelHostErrorKind.DoesNotFit"/> and <see cref="ModelHostErrorKind.QuotaExceeded"/>: what the other models counted against it take.</summary>
    public long? UsedBytes { get; init; }

    /// <summary>For <see cref="ModelHostErrorKind.LoadTimeout"/>: how long the request waited (the host's load wait limit).</summary>
    public TimeSpan? WaitLimit { get; init; }
}
