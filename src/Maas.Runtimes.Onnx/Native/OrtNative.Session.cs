using System.Runtime.InteropServices;

namespace Maas.Runtimes.Onnx.Native;

/// <summary>What the session says about one input or output.</summary>
internal sealed record OrtIoInfo(string Name, int OnnxType, int ElementType, long[] Dims, string?[] SymbolicDims);

/// <summary>What ONNX Runtime's model metadata API returns.</summary>
internal sealed record OrtModelMetadata(
    string ProducerName,
    string GraphName,
    string Domain,
    string Description,
    string GraphDescription,
    long Version,
    IReadOnlyDictionary<string, string> Custom);

internal static unsafe partial class OrtNative
{
    // ONNXType values.
    private const int OnnxTypeTensor = 1;

    public static OrtSessionOptionsHandle CreateSessionOptions()
    {
        IntPtr options;
        Check(((delegate* unmanaged<IntPtr*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.CreateSessionOptions))(&options));
        return new OrtSessionOptionsHandle(options);
    }

    /// <summary>Calls a session-options setter that takes one int (threads, levels, modes).</summary>
    public static void SetOption(OrtSessionOptionsHandle options, OrtApiSlot slot, int value)
    {
        using var lease = new HandleLease(options);
        Check(((delegate* unmanaged<IntPtr, int, IntPtr>)OrtLibrary.Fn(slot))(lease.Pointer, value));
    }

    /// <summary>Calls a session-options switch that takes no argument (Enable/Disable MemPattern, CpuMemArena).</summary>
    public static void SetOption(OrtSessionOptionsHandle options, OrtApiSlot slot)
    {
        using var lease = new HandleLease(options);
        Check(((delegate* unmanaged<IntPtr, IntPtr>)OrtLibrary.Fn(slot))(lease.Pointer));
    }

    public static void SetSessionLogId(OrtSessionOptionsHandle options, string logId)
    {
        using var lease = new HandleLease(options);
        var id = Utf8.Allocate(logId);
        try
        {
            Check(((delegate* unmanaged<IntPtr, byte*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.SetSessionLogId))(lease.Pointer, id));
        }
        finally
        {
            NativeMemory.Free(id);
        }
    }

    public static void AddSessionConfigEntry(OrtSessionOptionsHandle options, string key, string value) =>
        CallWithTwoStrings(options, OrtApiSlot.AddSessionConfigEntry, key, value);

    public static void AddFreeDimensionOverrideByName(OrtSessionOptionsHandle options, string name, long value)
    {
        using var lease = new HandleLease(options);
        var text = Utf8.Allocate(name);
        try
        {
            Check(((delegate* unmanaged<IntPtr, byte*, long, IntPtr>)OrtLibrary.Fn(OrtApiSlot.AddFreeDimensionOverrideByName))(lease.Pointer, text, value));
        }
        finally
        {
            NativeMemory.Free(text);
        }
    }

    /// <summary>The generic SessionOptionsAppendExecutionProvider: providers by name with string options.</summary>
    public static void AppendExecutionProvider(OrtSessionOptionsHandle options, string provider, IReadOnlyList<string> keys, IReadOnlyList<string> values)
    {
        using var lease = new HandleLease(options);
        var name = Utf8.Allocate(provider);
        using var nativeKeys = new Utf8Array(keys);
        using var nativeValues = new Utf8Array(values);
        try
        {
            Check(((delegate* unmanaged<IntPtr, byte*, byte**, byte**, nuint, IntPtr>)OrtLibrary.Fn(OrtApiSlot.SessionOptionsAppendExecutionProvider))(
                lease.Pointer, name, nativeKeys.Pointers, nativeValues.Pointers, (nuint)keys.Count));
        }
        finally
        {
            NativeMemory.Free(name);
        }
    }

    /// <summary>The CUDA provider through its V2 options object; a CPU-only build fails at CreateCUDAProviderOptions.</summary>
    public static void AppendCudaExecutionProvider(OrtSessionOptionsHandle options, IReadOnlyList<string> keys, IReadOnlyList<string> values)
    {
        using var lease = new HandleLease(options);
        IntPtr cuda;
        Check(((delegate* unmanaged<IntPtr*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.CreateCUDAProviderOptions))(&cuda));
        try
        {
            using var nativeKeys = new Utf8Array(keys);
            using var nativeValues = new Utf8Array(values);
            Check(((delegate* unmanaged<IntPtr, byte**, byte**, nuint, IntPtr>)OrtLibrary.Fn(OrtApiSlot.UpdateCUDAProviderOptions))(
                cuda, nativeKeys.Pointers, nativeValues.Pointers, (nuint)keys.Count));
            Check(((delegate* unmanaged<IntPtr, IntPtr, IntPtr>)OrtLibrary.Fn(OrtApiSlot.SessionOptionsAppendExecutionProvider_CUDA_V2))(lease.Pointer, cuda));
        }
        finally
        {
            ((delegate* unmanaged<IntPtr, void>)OrtLibrary.Fn(OrtApiSlot.ReleaseCUDAProviderOptions))(cuda);
        }
    }

    public static OrtSessionHandle CreateSession(OrtEnvHandle env, string path, OrtSessionOptionsHandle options)
    {
        using var envLease = new HandleLease(env);
        using var optionsLease = new HandleLease(options);
        IntPtr session;
        var create = (delegate* unmanaged<IntPtr, void*, IntPtr, IntPtr*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.CreateSession);
        if (OperatingSystem.IsWindows())
        {
            // ORTCHAR_T is wchar_t on Windows: UTF-16, as .NET strings already are.
            fixed (char* wide = path)
            {
                Check(create(envLease.Pointer, wide, optionsLease.Pointer, &session));
            }
        }
        else
        {
            var narrow = Utf8.Allocate(path);
            try
            {
                Check(create(envLease.Pointer, narrow, optionsLease.Pointer, &session));
            }
            finally
            {
                NativeMemory.Free(narrow);
            }
        }

        return new OrtSessionHandle(session);
    }

    public static OrtSessionHandle CreateSession(OrtEnvHandle env, ReadOnlySpan<byte> model, OrtSessionOptionsHandle options)
    {
        using var envLease = new HandleLease(env);
        using var optionsLease = new HandleLease(options);
        IntPtr session;
        fixed (byte* data = model)
        {
            Check(((delegate* unmanaged<IntPtr, byte*, nuint, IntPtr, IntPtr*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.CreateSessionFromArray))(
                envLease.Pointer, data, (nuint)model.Length, optionsLease.Pointer, &session));
        }

        return new OrtSessionHandle(session);
    }

    /// <summary>Names, types and shapes of the session's inputs (<paramref name="outputs"/> false) or outputs.</summary>
    public static OrtIoInfo[] DescribeIo(OrtSessionHandle session, bool outputs)
    {
        using var lease = new HandleLease(session);
        nuint count;
        var countSlot = outputs ? OrtApiSlot.SessionGetOutputCount : OrtApiSlot.SessionGetInputCount;
        Check(((delegate* unmanaged<IntPtr, nuint*, IntPtr>)OrtLibrary.Fn(countSlot))(lease.Pointer, &count));
        var result = new OrtIoInfo[(int)count];
        var nameSlot = outputs ? OrtApiSlot.SessionGetOutputName : OrtApiSlot.SessionGetInputName;
        var typeSlot = outputs ? OrtApiSlot.SessionGetOutputTypeInfo : OrtApiSlot.SessionGetInputTypeInfo;
        for (nuint i = 0; i < count; i++)
        {
            byte* name;
            Check(((delegate* unmanaged<IntPtr, nuint, IntPtr, byte**, IntPtr>)OrtLibrary.Fn(nameSlot))(lease.Pointer, i, DefaultAllocator(), &name));
            var managedName = TakeAllocatedString(name) ?? "";

            IntPtr typeInfo;
            Check(((delegate* unmanaged<IntPtr, nuint, IntPtr*, IntPtr>)OrtLibrary.Fn(typeSlot))(lease.Pointer, i, &typeInfo));
            using var typeHandle = new OrtTypeInfoHandle(typeInfo);
            result[(int)i] = DescribeType(managedName, typeHandle);
        }

        return result;
    }

    private static OrtIoInfo DescribeType(string name, OrtTypeInfoHandle typeInfo)
    {
        using var lease = new HandleLease(typeInfo);
        int onnxType;
        Check(((delegate* unmanaged<IntPtr, int*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.GetOnnxTypeFromTypeInfo))(lease.Pointer, &onnxType));
        if (onnxType != OnnxTypeTensor)
        {
            return new OrtIoInfo(name, onnxType, 0, [], []);
        }

        // The tensor info belongs to the type info: it is not released on its own.
        IntPtr tensorInfo;
        Check(((delegate* unmanaged<IntPtr, IntPtr*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.CastTypeInfoToTensorInfo))(lease.Pointer, &tensorInfo));
        var (elementType, dims, symbolic) = ReadTensorInfo(tensorInfo, withSymbolic: true);
        return new OrtIoInfo(name, onnxType, elementType, dims, symbolic);
    }

    private static (int ElementType, long[] Dims, string?[] Symbolic) ReadTensorInfo(IntPtr info, bool withSymbolic)
    {
        int elementType;
        nuint rank;
        Check(((delegate* unmanaged<IntPtr, int*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.GetTensorElementType))(info, &elementType));
        Check(((delegate* unmanaged<IntPtr, nuint*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.GetDimensionsCount))(info, &rank));
        var dims = new long[(int)rank];
        fixed (long* dimsPointer = dims)
        {
            Check(((delegate* unmanaged<IntPtr, long*, nuint, IntPtr>)OrtLibrary.Fn(OrtApiSlot.GetDimensions))(info, dimsPointer, rank));
        }

        var symbolic = new string?[(int)rank];
        if (withSymbolic && rank > 0)
        {
            var names = stackalloc byte*[(int)rank];
            Check(((delegate* unmanaged<IntPtr, byte**, nuint, IntPtr>)OrtLibrary.Fn(OrtApiSlot.GetSymbolicDimensions))(info, names, rank));
            for (var i = 0; i < (int)rank; i++)
            {
                var text = Utf8.Read(names[i]);
                symbolic[i] = string.IsNullOrEmpty(text) ? null : text;
            }
        }

        return (elementType, dims, symbolic);
    }

    public static OrtModelMetadata ReadModelMetadata(OrtSessionHandle session)
    {
        using var lease = new HandleLease(session);
        IntPtr created;
        Check(((delegate* unmanaged<IntPtr, IntPtr*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.SessionGetModelMetadata))(lease.Pointer, &created));
        using var handle = new OrtModelMetadataHandle(created);
        var metadata = created;

        string ReadString(OrtApiSlot slot)
        {
            byte* value;
            Check(((delegate* unmanaged<IntPtr, IntPtr, byte**, IntPtr>)OrtLibrary.Fn(slot))(metadata, DefaultAllocator(), &value));
            return TakeAllocatedString(value) ?? "";
        }

        long version;
        Check(((delegate* unmanaged<IntPtr, long*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.ModelMetadataGetVersion))(metadata, &version));

        var custom = new Dictionary<string, string>(StringComparer.Ordinal);
        byte** keys;
        long keyCount;
        Check(((delegate* unmanaged<IntPtr, IntPtr, byte***, long*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.ModelMetadataGetCustomMetadataMapKeys))(
            metadata, DefaultAllocator(), &keys, &keyCount));
        try
        {
            for (long i = 0; i < keyCount; i++)
            {
                byte* value;
                Check(((delegate* unmanaged<IntPtr, IntPtr, byte*, byte**, IntPtr>)OrtLibrary.Fn(OrtApiSlot.ModelMetadataLookupCustomMetadataMap))(
                    metadata, DefaultAllocator(), keys[i], &value));
                custom[Utf8.Read(keys[i]) ?? ""] = TakeAllocatedString(value) ?? "";
            }
        }
        finally
        {
            // Each key and the array itself came from the allocator.
            for (long i = 0; i < keyCount; i++)
            {
                FreeWithDefaultAllocator(keys[i]);
            }

            FreeWithDefaultAllocator(keys);
        }

        return new OrtModelMetadata(
            ReadString(OrtApiSlot.ModelMetadataGetProducerName),
            ReadString(OrtApiSlot.ModelMetadataGetGraphName),
            ReadString(OrtApiSlot.ModelMetadataGetDomain),
            ReadString(OrtApiSlot.ModelMetadataGetDescription),
            ReadString(OrtApiSlot.ModelMetadataGetGraphDescription),
            version,
            custom);
    }

    public static OrtRunOptionsHandle CreateRunOptions()
    {
        IntPtr options;
        Check(((delegate* unmanaged<IntPtr*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.CreateRunOptions))(&options));
        return new OrtRunOptionsHandle(options);
    }

    public static void SetRunLogSeverity(OrtRunOptionsHandle options, int severity)
    {
        using var lease = new HandleLease(options);
        Check(((delegate* unmanaged<IntPtr, int, IntPtr>)OrtLibrary.Fn(OrtApiSlot.RunOptionsSetRunLogSeverityLevel))(lease.Pointer, severity));
    }

    public static void SetRunTag(OrtRunOptionsHandle options, string tag)
    {
        using var lease = new HandleLease(options);
        var text = Utf8.Allocate(tag);
        try
        {
            Check(((delegate* unmanaged<IntPtr, byte*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.RunOptionsSetRunTag))(lease.Pointer, text));
        }
        finally
        {
            NativeMemory.Free(text);
        }
    }

    public static string GetRunTag(OrtRunOptionsHandle options)
    {
        using var lease = new HandleLease(options);
        byte* tag;
        Check(((delegate* unmanaged<IntPtr, byte**, IntPtr>)OrtLibrary.Fn(OrtApiSlot.RunOptionsGetRunTag))(lease.Pointer, &tag));
        return Utf8.Read(tag) ?? "";
    }

    /// <summary>Sets (true) or clears the terminate flag; safe to call from any thread while a Run is going on.</summary>
    public static void SetTerminate(OrtRunOptionsHandle options, bool terminate)
    {
        using var lease = new HandleLease(options);
        var slot = terminate ? OrtApiSlot.RunOptionsSetTerminate : OrtApiSlot.RunOptionsUnsetTerminate;
        Check(((delegate* unmanaged<IntPtr, IntPtr>)OrtLibrary.Fn(slot))(lease.Pointer));
    }

    public static void AddRunConfigEntry(OrtRunOptionsHandle options, string key, string value) =>
        CallWithTwoStrings(options, OrtApiSlot.AddRunConfigEntry, key, value);

    /// <summary>
    /// Runs the session. <paramref name="outputs"/> entries that are set are filled in place (caller-allocated
    /// outputs); the others come back as new values in the same positions.
    /// </summary>
    public static void Run(
        OrtSessionHandle session,
        OrtRunOptionsHandle? runOptions,
        IReadOnlyList<string> inputNames,
        IReadOnlyList<OrtValueHandle> inputs,
        IReadOnlyList<string> outputNames,
        OrtValueHandle?[] outputs)
    {
        var inputCount = inputNames.Count;
        var outputCount = outputNames.Count;
        var held = new List<SafeHandle>(inputCount + outputCount + 2);
        var temporary = new List<IntPtr>();
        var inputNamePointers = new IntPtr[inputCount];
        var inputPointers = new IntPtr[inputCount];
        var outputNamePointers = new IntPtr[outputCount];
        var outputPointers = new IntPtr[outputCount];
        try
        {
            var sessionPointer = Hold(session, held);
            var runOptionsPointer = runOptions is null ? IntPtr.Zero : Hold(runOptions, held);
            for (var i = 0; i < inputCount; i++)
            {
                inputNamePointers[i] = NamePointer(session, inputNames[i], temporary);
                inputPointers[i] = Hold(inputs[i], held);
            }

            for (var i = 0; i < outputCount; i++)
            {
                outputNamePointers[i] = NamePointer(session, outputNames[i], temporary);
                outputPointers[i] = outputs[i] is { } given ? Hold(given, held) : IntPtr.Zero;
            }

            fixed (IntPtr* inNames = inputNamePointers, inValues = inputPointers, outNames = outputNamePointers, outValues = outputPointers)
            {
                var status = ((delegate* unmanaged<IntPtr, IntPtr, IntPtr*, IntPtr*, nuint, IntPtr*, nuint, IntPtr*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.Run))(
                    sessionPointer, runOptionsPointer, inNames, inValues, (nuint)inputCount, outNames, (nuint)outputCount, outValues);
                Check(status);
            }

            for (var i = 0; i < outputCount; i++)
            {
                outputs[i] ??= new OrtValueHandle(outputPointers[i]);
            }
        }
        finally
        {
            foreach (var handle in held)
            {
                handle.DangerousRelease();
            }

            foreach (var pointer in temporary)
            {
                NativeMemory.Free((void*)pointer);
            }
        }
    }

    private static IntPtr Hold(SafeHandle handle, List<SafeHandle> held)
    {
        var added = false;
        handle.DangerousAddRef(ref added);
        held.Add(handle);
        return handle.DangerousGetHandle();
    }

    // Names the session does not know still go to ONNX Runtime, so the caller gets its own error message.
    private static IntPtr NamePointer(OrtSessionHandle session, string name, List<IntPtr> temporary)
    {
        var cached = session.CachedName(name);
        if (cached != IntPtr.Zero)
        {
            return cached;
        }

        var pointer = (IntPtr)Utf8.Allocate(name);
        temporary.Add(pointer);
        return pointer;
    }

    private static void CallWithTwoStrings(SafeHandle target, OrtApiSlot slot, string first, string second)
    {
        using var lease = new HandleLease(target);
        var a = Utf8.Allocate(first);
        var b = Utf8.Allocate(second);
        try
        {
            Check(((delegate* unmanaged<IntPtr, byte*, byte*, IntPtr>)OrtLibrary.Fn(slot))(lease.Pointer, a, b));
        }
        finally
        {
            NativeMemory.Free(a);
            NativeMemory.Free(b);
        }
    }
}
