using Maas.Core.Hosting;

namespace Maas.Core.Tests.Hosting;

/// <summary>Engine error text without the server's file paths.</summary>
public sealed class EngineMessagesTests
{
    [Theory]
    [InlineData(
        "Load model from /var/lib/maas/artifacts/sha256/ab/abcdef.onnx failed:Protobuf parsing failed.",
        "Load model from (the model's file) failed:Protobuf parsing failed.")]
    [InlineData("failed to load model '/root/.local/share/maas/artifacts/x.gguf'", "failed to load model '(the model's file)'")]
    [InlineData("[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : /tmp/a/b.onnx, line 3", "[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : (the model's file), line 3")]
    [InlineData("tensor 'blk.0/attn' has shape [4,4] (not a path: one segment /x)", "tensor 'blk.0/attn' has shape [4,4] (not a path: one segment /x)")]
    [InlineData("POST http://host/v2/x answered 500", "POST http://host/v2/x answered 500")]
    public void Paths_are_replaced_and_other_text_is_kept(string message, string expected) =>
        Assert.Equal(expected, EngineMessages.WithoutPaths(message));
}
