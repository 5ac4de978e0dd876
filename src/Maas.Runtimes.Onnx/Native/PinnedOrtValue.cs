using System.Buffers;
using Maas.Core.Formats.Onnx;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Maas.Runtimes.Onnx.Native;

/// <summary>
/// ONNX Runtime's tensor over memory it does not own: the one place the engine's code takes a raw pointer, that of
/// memory pinned by the caller's <see cref="MemoryHandle"/> (held by the tensor until it is disposed), so that
/// inputs and outputs are read and written in place.
/// </summary>
internal static class PinnedOrtValue
{
    public static unsafe OrtValue CreateOver(MemoryHandle pin, long[] dims, OnnxElementType elementType, long byteLength) =>
        OnnxErrors.Call(() => OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, (TensorElementType)elementType, dims, (IntPtr)pin.Pointer, byteLength));
}
