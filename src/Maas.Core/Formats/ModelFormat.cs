namespace Maas.Core.Formats;

/// <summary>The model file formats MaaS can serve.</summary>
public enum ModelFormat
{
    /// <summary>An ONNX protobuf model, served by ONNX Runtime.</summary>
    Onnx,

    /// <summary>A GGUF model, served by llama.cpp.</summary>
    Gguf,
}
