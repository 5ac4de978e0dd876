namespace Maas.Server.TensorInference.Grpc;

/// <summary>The message encodings of gRPC's compression spec that this server speaks.</summary>
internal enum GrpcEncoding
{
    Identity,
    Gzip,
    Deflate,
}
