namespace Maas.Runtimes.Onnx.Native;

internal static unsafe partial class OrtNative
{
    public static OrtIoBindingHandle CreateIoBinding(OrtSessionHandle session)
    {
        using var lease = new HandleLease(session);
        IntPtr binding;
        Check(((delegate* unmanaged<IntPtr, IntPtr*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.CreateIoBinding))(lease.Pointer, &binding));
        return new OrtIoBindingHandle(binding, session);
    }

    /// <summary>BindInput (<paramref name="output"/> false) or BindOutput.</summary>
    public static void Bind(OrtIoBindingHandle binding, string name, OrtValueHandle value, bool output)
    {
        using var bindingLease = new HandleLease(binding);
        using var valueLease = new HandleLease(value);
        var text = Utf8.Allocate(name);
        try
        {
            var slot = output ? OrtApiSlot.BindOutput : OrtApiSlot.BindInput;
            Check(((delegate* unmanaged<IntPtr, byte*, IntPtr, IntPtr>)OrtLibrary.Fn(slot))(bindingLease.Pointer, text, valueLease.Pointer));
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.Free(text);
        }
    }

    /// <summary>Binds an output to CPU memory that ONNX Runtime allocates once the output's shape is known.</summary>
    public static void BindOutputToCpu(OrtIoBindingHandle binding, string name)
    {
        using var bindingLease = new HandleLease(binding);
        using var info = new HandleLease(CpuMemoryInfo);
        var text = Utf8.Allocate(name);
        try
        {
            Check(((delegate* unmanaged<IntPtr, byte*, IntPtr, IntPtr>)OrtLibrary.Fn(OrtApiSlot.BindOutputToDevice))(bindingLease.Pointer, text, info.Pointer));
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.Free(text);
        }
    }

    public static void ClearBindings(OrtIoBindingHandle binding, bool outputs)
    {
        using var lease = new HandleLease(binding);
        var slot = outputs ? OrtApiSlot.ClearBoundOutputs : OrtApiSlot.ClearBoundInputs;
        ((delegate* unmanaged<IntPtr, void>)OrtLibrary.Fn(slot))(lease.Pointer);
    }

    public static void RunWithBinding(OrtSessionHandle session, OrtRunOptionsHandle? runOptions, OrtIoBindingHandle binding)
    {
        using var sessionLease = new HandleLease(session);
        using var optionsLease = new HandleLease(runOptions);
        using var bindingLease = new HandleLease(binding);
        Check(((delegate* unmanaged<IntPtr, IntPtr, IntPtr, IntPtr>)OrtLibrary.Fn(OrtApiSlot.RunWithBinding))(
            sessionLease.Pointer, optionsLease.Pointer, bindingLease.Pointer));
    }

    /// <summary>The bound outputs after a run, in binding order, with their names; each value is a new reference.</summary>
    public static (string Name, OrtValueHandle Value)[] BoundOutputs(OrtIoBindingHandle binding)
    {
        using var lease = new HandleLease(binding);
        byte* buffer;
        nuint* lengths;
        nuint count;
        Check(((delegate* unmanaged<IntPtr, IntPtr, byte**, nuint**, nuint*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.GetBoundOutputNames))(
            lease.Pointer, DefaultAllocator(), &buffer, &lengths, &count));
        var names = new string[(int)count];
        try
        {
            var offset = 0;
            for (var i = 0; i < (int)count; i++)
            {
                names[i] = System.Text.Encoding.UTF8.GetString(buffer + offset, (int)lengths[i]);
                offset += (int)lengths[i];
            }
        }
        finally
        {
            FreeWithDefaultAllocator(buffer);
            FreeWithDefaultAllocator(lengths);
        }

        IntPtr* values;
        nuint valueCount;
        Check(((delegate* unmanaged<IntPtr, IntPtr, IntPtr**, nuint*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.GetBoundOutputValues))(
            lease.Pointer, DefaultAllocator(), &values, &valueCount));
        var result = new (string, OrtValueHandle)[(int)valueCount];
        try
        {
            for (var i = 0; i < (int)valueCount; i++)
            {
                result[i] = (i < names.Length ? names[i] : "", new OrtValueHandle(values[i]));
            }
        }
        finally
        {
            FreeWithDefaultAllocator(values);
        }

        return result;
    }
}
