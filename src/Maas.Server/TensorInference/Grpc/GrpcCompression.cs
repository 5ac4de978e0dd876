using System.IO.Compression;
using Maas.Core.TensorServing;

namespace Maas.Server.TensorInference.Grpc;

/// <summary>
/// gRPC message compression: reading grpc-encoding / grpc-accept-encoding, inflating compressed request messages
/// and compressing responses. "deflate" is the zlib format, as gRPC's own implementations write it.
/// </summary>
internal static class GrpcCompression
{
    /// <summary>What the server sends as grpc-accept-encoding.</summary>
    public const string AcceptEncoding = "identity,gzip,deflate";

    /// <summary>Parses an encoding name; false for names this server does not implement.</summary>
    public static bool TryParse(string? name, out GrpcEncoding encoding)
    {
        encoding = GrpcEncoding.Identity;
        var trimmed = name.AsSpan().Trim();
        if (trimmed.IsEmpty || trimmed.Equals("identity", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        if (trimmed.Equals("gzip", StringComparison.OrdinalIgnoreCase))
        {
            encoding = GrpcEncoding.Gzip;
            return true;
        }

        if (trimmed.Equals("deflate", StringComparison.OrdinalIgnoreCase))
        {
            encoding = GrpcEncoding.Deflate;
            return true;
        }

        return false;
    }

    /// <summary>The wire name of an encoding.</summary>
    public static string Name(GrpcEncoding encoding) => encoding switch
    {
        GrpcEncoding.Gzip => "gzip",
        GrpcEncoding.Deflate => "deflate",
        _ => "identity",
    };

    /// <summary>True when a grpc-accept-encoding list (comma-separated) names <paramref name="encoding"/>.</summary>
    public static bool Accepts(string? acceptList, GrpcEncoding encoding)
    {
        foreach (var part in (acceptList ?? "").Split(','))
        {
            if (TryParse(part, out var e) && e == encoding && part.Trim().Length > 0)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The encoding of the response messages: none when off or when the client accepts none we would use; with
    /// "auto", the request's own encoding (a client that compresses gets compressed answers); otherwise the
    /// configured one, when the client's grpc-accept-encoding lists it.
    /// </summary>
    public static GrpcEncoding ChooseResponse(string setting, GrpcEncoding requestEncoding, string? acceptList)
    {
        var wanted = setting.ToLowerInvariant() switch
        {
            "gzip" => GrpcEncoding.Gzip,
            "deflate" => GrpcEncoding.Deflate,
            "auto" => requestEncoding,
            _ => GrpcEncoding.Identity,
        };
        return wanted != GrpcEncoding.Identity && Accepts(acceptList, wanted) ? wanted : GrpcEncoding.Identity;
    }

    /// <summary>Inflates a compressed message into a pooled buffer, refusing output over <paramref name="limit"/> bytes.</summary>
    public static PooledBuffer Decompress(PooledBuffer message, GrpcEncoding encoding, long limit)
    {
        using var input = new MemoryStream(message.Memory.ToArray(), writable: false);
        using Stream inflater = encoding == GrpcEncoding.Gzip
            ? new GZipStream(input, CompressionMode.Decompress)
            : new ZLibStream(input, CompressionMode.Decompress);
        using var output = new MemoryStream();
        var chunk = new byte[81920];
        int n;
        try
        {
            while ((n = inflater.Read(chunk)) > 0)
            {
                output.Write(chunk, 0, n);
                if (output.Length > limit)
                {
                    throw InferenceErrors.Invalid($"the decompressed gRPC message is over the limit of {limit} bytes (Maas:Inference:MaxRequestBodyBytes)");
                }
            }
        }
        catch (InvalidDataException ex)
        {
            throw InferenceErrors.Invalid($"the gRPC message is not valid {Name(encoding)} data: {ex.Message}");
        }

        var result = PooledBuffer.Rent(output.Length);
        output.GetBuffer().AsSpan(0, (int)output.Length).CopyTo(result.Span);
        return result;
    }

    /// <summary>Compresses <paramref name="data"/> (fastest level: tensors rarely shrink much, CPU is the cost).</summary>
    public static MemoryStream Compress(ReadOnlySpan<byte> data, GrpcEncoding encoding)
    {
        var output = new MemoryStream(Math.Max(256, data.Length / 2));
        using (Stream deflater = encoding == GrpcEncoding.Gzip
            ? new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true)
            : new ZLibStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            deflater.Write(data);
        }

        return output;
    }
}
