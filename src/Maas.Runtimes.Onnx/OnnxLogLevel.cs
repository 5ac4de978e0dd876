namespace Maas.Runtimes.Onnx;

/// <summary>ONNX Runtime's log severities.</summary>
public enum OnnxLogLevel
{
    /// <summary>Everything, including per-node details.</summary>
    Verbose = 0,

    /// <summary>Informational messages.</summary>
    Info = 1,

    /// <summary>Warnings (the default).</summary>
    Warning = 2,

    /// <summary>Errors only.</summary>
    Error = 3,

    /// <summary>Fatal errors only.</summary>
    Fatal = 4,
}
