using Maas.Runtimes.Onnx.Native;

namespace Maas.Runtimes.Onnx.Tests;

// Each test calls slots whose observable behaviour could only come from the function counted at that position.
public sealed class OrtApiSlotTests
{
    [Fact]
    public void ApiBaseReportsThePinnedVersionAndOffersApi30ButNot31()
    {
        Assert.Equal(OnnxRuntime.PinnedVersion, OnnxRuntime.Version);
        Assert.True(OrtLibrary.SupportsApi(30));
        Assert.False(OrtLibrary.SupportsApi(31));
        Assert.EndsWith(OrtLibrary.FileName, OnnxRuntime.LibraryPath);
    }

    [Fact]
    public void StatusSlotsCreateReadAndReleaseAStatus()
    {
        // Slots 0 (CreateStatus), 1 (GetErrorCode), 2 (GetErrorMessage), 93 (ReleaseStatus).
        var error = OrtNative.RoundTripStatus(OnnxRuntimeErrorCode.NotImplemented, "slot check ü");

        Assert.Equal(OnnxRuntimeErrorCode.NotImplemented, error.ErrorCode);
        Assert.Equal("slot check ü", error.EngineMessage);
    }

    [Fact]
    public void CpuMemoryInfoSlotsDescribeTheCpuDevice()
    {
        // Slots 69 (CreateCpuMemoryInfo), 71..74 (MemoryInfoGetName/Id/MemType/Type), 94 (ReleaseMemoryInfo).
        using var info = OrtNative.CreateCpuMemoryInfo();

        var (name, id, memType, allocatorType) = OrtNative.DescribeMemoryInfo(info);

        Assert.Equal("Cpu", name);
        Assert.Equal(0, id);
        Assert.Equal(0, memType); // OrtMemTypeDefault
        Assert.Equal(0, allocatorType); // OrtDeviceAllocator, as created
    }

    [Fact]
    public void ProviderSlotsListTheCpuProvider()
    {
        // Slots 125 (GetAvailableProviders) and 126 (ReleaseAvailableProviders).
        Assert.Contains("CPUExecutionProvider", OnnxRuntime.AvailableProviders);
    }

    [Fact]
    public void RunOptionsSlotsKeepTagAndTerminateFlag()
    {
        // Slots 39 (CreateRunOptions), 42/45 (Set/GetRunTag), 46/47 (Set/UnsetTerminate), 97 (ReleaseRunOptions).
        using var options = new OnnxRunOptions { Tag = "request-42" };
        options.Terminate();
        options.Reset();

        Assert.Equal("request-42", options.Tag);
        Assert.False(options.IsTerminated);
    }

    [Fact]
    public void SessionOptionSettersAcceptValidValuesAndReportBadOnes()
    {
        // Slots 23 (graph optimisation), 24/25 (threads), 13 (execution mode), 16..19 (mem pattern, arena), 20/22 (log).
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

        options.AddConfigEntry("session.intra_op.allow_spinning", "0"); // slot 130

        // ONNX Runtime validates these two enums, and names the setting in its message.
        var mode = Assert.Throws<OnnxRuntimeException>(() => options.ExecutionMode = (OnnxExecutionMode)5);
        var level = Assert.Throws<OnnxRuntimeException>(() => options.GraphOptimizationLevel = (OnnxGraphOptimizationLevel)42);
        Assert.Equal("execution_mode is not valid", mode.EngineMessage);
        Assert.Equal("graph_optimization_level is not valid", level.EngineMessage);
        Assert.Equal(OnnxRuntimeErrorCode.InvalidArgument, level.ErrorCode);
        Assert.Equal(OnnxExecutionMode.Parallel, options.ExecutionMode);
    }
}
