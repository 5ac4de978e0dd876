using System.Text;
using Maas.Core.TensorServing;

namespace Maas.Server.TensorInference.Grpc;

/// <summary>gRPC status codes (the subset MaaS returns) and the mapping from serving failures.</summary>
internal static class GrpcStatus
{
    public const int Ok = 0;
    public const int Cancelled = 1;
    public const int Unknown = 2;
    public const int InvalidArgument = 3;
    public const int DeadlineExceeded = 4;
    public const int NotFound = 5;
    public const int ResourceExhausted = 8;
    public const int Unimplemented = 12;
    public const int Internal = 13;
    public const int Unavailable = 14;

    /// <summary>UNAUTHENTICATED: no valid key (revoked or expired while the call ran).</summary>
    public const int Unauthenticated = 16;

    /// <summary>The status code for a failure kind.</summary>
    public static int FromKind(InferenceErrorKind kind) => kind switch
    {
        InferenceErrorKind.InvalidInput => InvalidArgument,
        InferenceErrorKind.NotFound => NotFound,
        InferenceErrorKind.QueueFull => ResourceExhausted,
        InferenceErrorKind.Unavailable => Unavailable,
        InferenceErrorKind.Timeout => DeadlineExceeded,
        InferenceErrorKind.Cancelled => Cancelled,
        _ => Internal,
    };

    /// <summary>Percent-encodes a status message as the gRPC HTTP/2 mapping requires for grpc-message.</summary>
    public static string EncodeMessage(string message)
    {
        var sb = new StringBuilder(message.Length);
        foreach (var b in Encoding.UTF8.GetBytes(message))
        {
            if (b is >= 0x20 and <= 0x7E && b != (byte)'%')
            {
                sb.Append((char)b);
            }
            else
            {
                sb.Append('%').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return sb.ToString();
    }

    /// <summary>Parses a grpc-timeout header ("100m", "5S", ...); null when absent or malformed.</summary>
    public static TimeSpan? ParseTimeout(string? value)
    {
        if (string.IsNullOrEmpty(value) || value.Length < 2 || value.Length > 9
            || !long.TryParse(value.AsSpan(0, value.Length - 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var amount))
        {
            return null;
        }

        return value[^1] switch
        {
            'H' => TimeSpan.FromHours(amount),
            'M' => TimeSpan.FromMinutes(amount),
            'S' => TimeSpan.FromSeconds(amount),
            'm' => TimeSpan.FromMilliseconds(amount),
            'u' => TimeSpan.FromMicroseconds(amount),
            'n' => TimeSpan.FromTicks(Math.Max(1, amount / 100)),
            _ => null,
        };
    }
}
