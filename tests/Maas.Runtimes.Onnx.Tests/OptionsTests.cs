namespace Maas.Runtimes.Onnx.Tests;

// The settings MaaS passes through ONNX Runtime's managed API reach the engine: ONNX Runtime checks and reports them.
public sealed class OptionsTests
{
    [Fact]
    public void TheLoadedLibraryIsThePinnedVersion()
    {
        Assert.Equal(OnnxRuntime.PinnedVersion, OnnxRuntime.Version);
    }

    [Fact]
    public void AvailableProvidersListTheCpuProvider()
    {
        Assert.Contains("CPUExecutionProvider", OnnxRuntime.AvailableProviders);
    }

    [Fact]
    public void RunOptionsKeepTagAndTerminateFlag()
    {
        using var options = new OnnxRunOptions { Tag = "request-42" };
        options.Terminate();
        options.Reset();

        Assert.Equal("request-42", options.Tag);
        Assert.False(options.IsTerminated);
    }

    [Fact]
    public void SessionOptionSettersAcceptValidValuesAndReportBadOnes()
    {
        using var options = new OnnxSessionOptions
        {
            IntraOpThreads = 1,
            InterOpThreads = 1,
            GraphOptimizationLevel = OnnxGraphOptimizationLevel.Basic,
            ExecutionMode = OnnxExecutionMode.Parallel,
            EnableMemoryPattern = false,
            EnableCpuMemoryArena = false,
            LogId = "slots",
            LogSeverity = OnnxLogLevel.Error,
        };

        options.AddConfigEntry("session.intra_op.allow_spinning", "0");

        // ONNX Runtime validates these two enums, and names the setting in its message.
        var mode = Assert.Throws<OnnxRuntimeException>(() => options.ExecutionMode = (OnnxExecutionMode)5);
        var level = Assert.Throws<OnnxRuntimeException>(() => options.GraphOptimizationLevel = (OnnxGraphOptimizationLevel)42);
        Assert.Equal("execution_mode is not valid", mode.EngineMessage);
        Assert.Equal("graph_optimization_level is not valid", level.EngineMessage);
        Assert.Equal(OnnxRuntimeErrorCode.InvalidArgument, level.ErrorCode);
        Assert.Equal(OnnxExecutionMode.Parallel, options.ExecutionMode);
    }
}
