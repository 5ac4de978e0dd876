namespace Maas.Runtimes.Onnx;

/// <summary>ONNX Runtime's error codes (OrtErrorCode in the C API).</summary>
public enum OnnxRuntimeErrorCode
{
    /// <summary>No error.</summary>
    Ok = 0,

    /// <summary>A general failure.</summary>
    Fail = 1,

    /// <summary>An argument was wrong: input names, shapes, types, option values.</summary>
    InvalidArgument = 2,

    /// <summary>A file does not exist.</summary>
    NoSuchFile = 3,

    /// <summary>No model is loaded.</summary>
    NoModel = 4,

    /// <summary>The engine failed.</summary>
    EngineError = 5,

    /// <summary>A runtime error inside an operator or the session (including a run terminated on request).</summary>
    RuntimeException = 6,

    /// <summary>The model bytes are not a valid ONNX protobuf.</summary>
    InvalidProtobuf = 7,

    /// <summary>A model is already loaded.</summary>
    ModelLoaded = 8,

    /// <summary>The feature or operator is not implemented in this build.</summary>
    NotImplemented = 9,

    /// <summary>The graph is invalid (type or shape inference failed, unknown operator...).</summary>
    InvalidGraph = 10,

    /// <summary>An execution provider failed.</summary>
    EpFail = 11,
}
