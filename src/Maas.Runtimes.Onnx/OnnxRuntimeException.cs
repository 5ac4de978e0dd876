namespace Maas.Runtimes.Onnx;

/// <summary>A failed ONNX Runtime call: carries the engine's own message and error code.</summary>
public sealed class OnnxRuntimeException : Exception
{
    /// <summary>Creates the exception from ONNX Runtime's code and message.</summary>
    public OnnxRuntimeException(OnnxRuntimeErrorCode errorCode, string message)
        : base($"[ONNX Runtime {errorCode}] {message}")
    {
        ErrorCode = errorCode;
        EngineMessage = message;
    }

    /// <summary>Creates the exception with an inner error, keeping the code and message.</summary>
    public OnnxRuntimeException(OnnxRuntimeErrorCode errorCode, string message, Exception innerException)
        : base($"[ONNX Runtime {errorCode}] {message}", innerException)
    {
        ErrorCode = errorCode;
        EngineMessage = message;
    }

    /// <summary>ONNX Runtime's error code.</summary>
    public OnnxRuntimeErrorCode ErrorCode { get; }

    /// <summary>ONNX Runtime's message, unchanged.</summary>
    public string EngineMessage { get; }
}
