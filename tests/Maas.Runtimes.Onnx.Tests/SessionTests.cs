using Maas.Core.Formats.Onnx;

namespace Maas.Runtimes.Onnx.Tests;

public sealed class SessionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("maas-ort-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void IntrospectionShowsSymbolicDimsMetadataMapProducerAndOpset()
    {
        using var session = OnnxSession.FromBytes(TestModels.AddOne().ToBytes());

        var input = Assert.Single(session.Inputs);
        Assert.Equal("x", input.Name);
        Assert.Equal([OnnxDimension.Symbolic("batch"), new OnnxDimension(4)], input.Shape);
        Assert.Equal([-1L, 4], input.Dims);
        Assert.Equal("y", Assert.Single(session.Outputs).Name);

        var metadata = session.Metadata;
        Assert.Equal("maas-tests", metadata.ProducerName);
        Assert.Equal("0.3", metadata.ProducerVersion);
        Assert.Equal("add_one", metadata.GraphName);
        Assert.Equal("ai.maas.tests", metadata.Domain);
        Assert.Equal("adds one", metadata.Description);
        Assert.Equal(3, metadata.Version);
        Assert.Equal(8, metadata.IrVersion);
        Assert.Equal([new OnnxOpset("", 17)], metadata.Opsets);
        Assert.Equal(new Dictionary<string, string> { ["labels"] = "a,b,c", ["author"] = "maas" }, metadata.CustomMetadata);
    }

    [Fact]
    public void MlpWithDynamicBatchMatchesThePlainCSharpReference()
    {
        var layers = DenseLayer.RandomStack(8, [16, 12], 3, seed: 7);
        using var session = OnnxSession.FromBytes(OnnxModelWriter.Mlp(layers).ToBytes());
        foreach (var batch in new[] { 1, 5 })
        {
            var x = Enumerable.Range(0, batch * 8).Select(i => (float)Math.Sin(i)).ToArray();
            var expected = layers[2].Apply(layers[1].Apply(layers[0].Apply(x, batch, relu: true), batch, relu: true), batch, relu: false);

            using var input = OnnxTensor.Create(x, batch, 8);
            using var outputs = session.Run([new("input", input)]);

            Assert.Equal([(long)batch, 3], outputs["output"].Shape);
            var actual = outputs["output"].ToArray<float>();
            for (var i = 0; i < expected.Length; i++)
            {
                Assert.Equal(expected[i], actual[i], 1e-4f);
            }
        }
    }

    [Fact]
    public void ModelWithExternalWeightsLoadsFromItsFolder()
    {
        var layers = DenseLayer.RandomStack(4, [6], 2, seed: 3);
        var path = Path.Combine(_dir, "mlp.onnx");
        OnnxModelWriter.Mlp(layers, externalWeights: true).Save(path);
        Assert.Equal(["mlp.onnx.data"], OnnxModelReader.Read(path).ExternalDataFiles);

        using var session = OnnxSession.Open(path);
        using var input = OnnxTensor.Create(new float[] { 1, 2, 3, 4 }, 1, 4);
        using var outputs = session.Run([new("input", input)]);

        var expected = layers[1].Apply(layers[0].Apply([1f, 2, 3, 4], 1, relu: true), 1, relu: false);
        Assert.Equal(expected, outputs[0].ToArray<float>(), (a, b) => Math.Abs(a - b) < 1e-4f);
    }

    [Fact]
    public void RunWritesIntoCallerOwnedOutputBuffers()
    {
        using var session = OnnxSession.FromBytes(TestModels.AddOne().ToBytes());
        var inputBuffer = new float[] { 1, 2, 3, 4, 5, 6, 7, 8 };
        var outputBuffer = new float[8];
        using var input = OnnxTensor.Create(inputBuffer.AsMemory(), [2, 4]);
        using var output = OnnxTensor.Create(outputBuffer.AsMemory(), [2, 4]);

        session.Run([new("x", input)], [new KeyValuePair<string, OnnxTensor>("y", output)]);

        Assert.Equal([2f, 3, 4, 5, 6, 7, 8, 9], outputBuffer);
        inputBuffer[0] = 100; // The input tensor is a view over the caller's array, not a copy.
        Assert.Equal(100f, input.GetData<float>()[0]);
    }

    [Fact]
    public void NativeTensorsAreFilledInPlace()
    {
        using var session = OnnxSession.FromBytes(TestModels.AddOne().ToBytes());
        using var input = OnnxTensor.Allocate(OnnxElementType.Float, [1, 4]);
        new float[] { 10, 20, 30, 40 }.CopyTo(input.GetData<float>());

        using var outputs = session.Run([new("x", input)], ["y"]);

        Assert.Equal([11f, 21, 31, 41], outputs["y"].ToArray<float>());
    }

    [Fact]
    public void IoBindingRunsRepeatedlyWithBoundInputsAndOutputs()
    {
        using var session = OnnxSession.FromBytes(TestModels.AddOne().ToBytes());
        var inputBuffer = new float[] { 1, 2, 3, 4 };
        var outputBuffer = new float[4];
        using var input = OnnxTensor.Create(inputBuffer, 1, 4);
        using var output = OnnxTensor.Create(outputBuffer, 1, 4);
        using var binding = session.CreateIoBinding();
        binding.BindInput("x", input);
        binding.BindOutput("y", output);

        session.Run(binding);
        Assert.Equal([2f, 3, 4, 5], outputBuffer);
        inputBuffer[3] = 41;
        session.Run(binding);
        Assert.Equal([2f, 3, 4, 42], outputBuffer);

        // An output bound to the device is allocated by ONNX Runtime once its shape is known.
        binding.ClearOutputs();
        binding.BindOutput("y");
        session.Run(binding);
        using var results = binding.GetOutputs();
        Assert.Equal(["y"], results.Names);
        Assert.Equal([2f, 3, 4, 42], results["y"].ToArray<float>());
    }

    [Fact]
    public void WrongInputNameCarriesOnnxRuntimesMessage()
    {
        using var session = OnnxSession.FromBytes(TestModels.AddOne().ToBytes());
        using var input = OnnxTensor.Create(new float[4], 1, 4);

        var error = Assert.Throws<OnnxRuntimeException>(() => session.Run([new("not_x", input)]));

        Assert.Equal(OnnxRuntimeErrorCode.InvalidArgument, error.ErrorCode);
        Assert.Contains("not_x", error.EngineMessage);
    }

    [Fact]
    public void WrongShapeAndWrongTypeCarryOnnxRuntimesMessage()
    {
        using var session = OnnxSession.FromBytes(TestModels.AddOne().ToBytes());
        using var wrongShape = OnnxTensor.Create(new float[6], 2, 3);
        using var wrongType = OnnxTensor.Create(new long[4], 1, 4);

        var shapeError = Assert.Throws<OnnxRuntimeException>(() => session.Run([new("x", wrongShape)]));
        var typeError = Assert.Throws<OnnxRuntimeException>(() => session.Run([new("x", wrongType)]));

        Assert.Equal(OnnxRuntimeErrorCode.InvalidArgument, shapeError.ErrorCode);
        Assert.Contains("dimensions", shapeError.EngineMessage, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(OnnxRuntimeErrorCode.InvalidArgument, typeError.ErrorCode);
        Assert.Contains("type", typeError.EngineMessage, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void BadModelsFailWithOnnxRuntimesReason()
    {
        var garbage = Assert.Throws<OnnxRuntimeException>(() => OnnxSession.FromBytes(TestModels.Garbage()));
        Assert.Equal(OnnxRuntimeErrorCode.InvalidProtobuf, garbage.ErrorCode);
        Assert.NotEmpty(garbage.EngineMessage);

        var unknownOp = Assert.Throws<OnnxRuntimeException>(() => OnnxSession.FromBytes(TestModels.UnknownOperator()));
        Assert.Contains("NoSuchOperator", unknownOp.EngineMessage);

        var path = Path.Combine(_dir, "garbage.onnx");
        File.WriteAllBytes(path, TestModels.Garbage());
        var garbageFile = Assert.Throws<OnnxRuntimeException>(() => OnnxSession.Open(path));
        Assert.Equal(OnnxRuntimeErrorCode.InvalidProtobuf, garbageFile.ErrorCode);
        var missing = Assert.Throws<FileNotFoundException>(() => OnnxSession.Open(Path.Combine(_dir, "missing.onnx")));
        Assert.Contains("missing.onnx", missing.Message);
    }

    [Fact]
    public void CudaOnACpuBuildFailsCleanlyWithTheReason()
    {
        using var options = new OnnxSessionOptions();

        var error = Assert.Throws<OnnxRuntimeException>(() => options.AppendExecutionProvider("CUDA", new Dictionary<string, string> { ["device_id"] = "0" }));

        // This build has no CUDA provider library to load; ONNX Runtime says which file it looked for.
        Assert.Contains("providers", error.EngineMessage, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(options.ExecutionProviders);
    }

    [Fact]
    public void GenericProviderHookFailsCleanlyForAProviderThisBuildLacks()
    {
        using var options = new OnnxSessionOptions();

        var error = Assert.Throws<OnnxRuntimeException>(() => options.AppendExecutionProvider("NoSuchProvider"));

        Assert.Equal(OnnxRuntimeErrorCode.InvalidArgument, error.ErrorCode);
        Assert.Contains("Unknown provider name 'NoSuchProvider'", error.EngineMessage);
    }

    [Fact]
    public void FreeDimensionOverrideFixesTheBatch()
    {
        using var options = new OnnxSessionOptions();
        options.AddFreeDimensionOverride("batch", 2);
        using var session = OnnxSession.FromBytes(TestModels.AddOne().ToBytes(), options);

        Assert.Equal([2L, 4], session.Inputs[0].Dims);
    }

    [Fact]
    public void AlreadyCancelledTokenNeverStartsTheRun()
    {
        using var session = OnnxSession.FromBytes(TestModels.AddOne().ToBytes());
        using var input = OnnxTensor.Create(new float[4], 1, 4);

        Assert.Throws<OperationCanceledException>(() => session.Run([new("x", input)], cancellationToken: new CancellationToken(canceled: true)));
    }

    [Fact]
    public void TerminatedRunOptionsStopARunWithOnnxRuntimesError()
    {
        using var session = OnnxSession.FromBytes(TestModels.AddOne().ToBytes());
        using var input = OnnxTensor.Create(new float[4], 1, 4);
        using var options = new OnnxRunOptions();
        options.Terminate();

        var error = Assert.Throws<OnnxRuntimeException>(() => session.Run([new("x", input)], runOptions: options));
        Assert.Contains("terminate", error.EngineMessage, StringComparison.OrdinalIgnoreCase);

        options.Reset();
        using var outputs = session.Run([new("x", input)], runOptions: options);
        Assert.Equal([1f, 1, 1, 1], outputs[0].ToArray<float>());
    }

    [Fact]
    public void CancellingMidRunTerminatesItQuickly()
    {
        using var options = new OnnxSessionOptions { IntraOpThreads = 1 };
        using var session = OnnxSession.FromBytes(TestModels.MatMulChain(size: 384, steps: 3000), options);
        using var input = OnnxTensor.Create(new float[384 * 384], 384, 384);
        using var cancellation = new CancellationTokenSource();

        // Cancelled from a thread of its own (a timer needs the thread pool, which a busy machine may starve past the
        // run) once the run is under way: once this thread, which runs the graph (one intra-op thread), has used
        // 50 ms of processor time more. A cancel that came before the run would stop it before the engine starts.
        var runner = ThreadCpuTime.OfCurrentThread();
        long atCancel = 0;
        var canceller = new Thread(() =>
        {
            var before = runner.Ticks();
            SpinWait.SpinUntil(() => runner.Ticks() >= before + 5, Maas.Testing.Conditions.Ceiling);
            Volatile.Write(ref atCancel, runner.Ticks());
            cancellation.Cancel();
        });
        canceller.Start();

        var error = Assert.Throws<OperationCanceledException>(() => session.Run([new("x", input)], cancellationToken: cancellation.Token));
        canceller.Join();

        // How promptly it stopped, in the processor time the run used after the cancel (one step takes a few ms of it,
        // the whole run seconds): unlike the time on the wall, that does not grow when a busy host shares its cores.
        var afterCancel = runner.Ticks() - Volatile.Read(ref atCancel);
        Assert.True(afterCancel < 50, $"the run used {afterCancel * 10} ms of processor time after the cancel before it stopped");
        Assert.IsType<OnnxRuntimeException>(error.InnerException);
    }

    [Fact]
    public void ConcurrentRunsOnOneSessionEachGetTheirOwnResult()
    {
        using var session = OnnxSession.FromBytes(TestModels.AddOne().ToBytes());

        Parallel.For(0, 200, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            using var input = OnnxTensor.Create(new float[] { i, i, i, i }, 1, 4);
            using var outputs = session.Run([new("x", input)]);
            Assert.Equal([i + 1f, i + 1, i + 1, i + 1], outputs[0].ToArray<float>());
        });
    }

    [Fact]
    public void TensorFactoriesRefuseMismatchedBuffers()
    {
        Assert.Throws<ArgumentException>(() => OnnxTensor.Create(new float[5], 2, 3));
        Assert.Throws<ArgumentException>(() => OnnxTensor.CreateStrings(["a"], [2]));
        Assert.Throws<ArgumentException>(() => OnnxTensor.CreateStrings(new[] { new ReadOnlyMemory<byte>([65, 0, 66]) }, [1]));
        using var tensor = OnnxTensor.Create(new float[2], 2);
        Assert.Throws<InvalidOperationException>(() => tensor.GetData<int>());
    }

    /// <summary>The processor time one thread has used, readable from any thread (Linux: /proc/self/task/&lt;tid&gt;/stat).</summary>
    private sealed class ThreadCpuTime(string statPath)
    {
        /// <summary>The calling thread's.</summary>
        public static ThreadCpuTime OfCurrentThread()
        {
            // /proc/thread-self links to "<pid>/task/<tid>" of the thread that reads it.
            var task = new FileInfo("/proc/thread-self").LinkTarget ?? throw new InvalidOperationException("/proc/thread-self is not a link");
            return new ThreadCpuTime($"/proc/self/task/{Path.GetFileName(task)}/stat");
        }

        /// <summary>User and system time in clock ticks (1/100 s).</summary>
        public long Ticks()
        {
            // The fields after the command's closing parenthesis start at the state (field 3); utime and stime are 14 and 15.
            var stat = File.ReadAllText(statPath);
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture);
        }
    }
}
