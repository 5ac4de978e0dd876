using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Maas.Runtimes.Llama.Native;

/// <summary>
/// The eval callback that gathers an importance matrix: llama.cpp's scheduler asks about each graph node; for a
/// matrix multiplication of a layer weight ("blk.*") by float activations it says yes, and once the node is computed
/// adds the square of every activation to that weight's per-column sums (one count per activation row).
/// </summary>
internal sealed unsafe class ImportanceCollector : IDisposable
{
    private static readonly Lock OpGate = new();
    private static readonly Dictionary<int, bool> MulMatOps = [];
    private GCHandle _self;
    private byte[] _copy = [];

    public ImportanceCollector()
    {
        _self = GCHandle.Alloc(this);
    }

    /// <summary>Per weight name: the column sums of squared activations and the rows summed.</summary>
    public Dictionary<string, (double[] Sums, long Rows)> Entries { get; } = new(StringComparer.Ordinal);

    /// <summary>What went wrong inside the callback (the decode then fails); null when nothing did.</summary>
    public Exception? Error { get; private set; }

    /// <summary>The callback to put in <c>llama_context_params.cb_eval</c>.</summary>
    public static IntPtr Callback => (IntPtr)(delegate* unmanaged[Cdecl]<GgmlTensor*, byte, IntPtr, byte>)&Evaluate;

    /// <summary>The user data to put in <c>llama_context_params.cb_eval_user_data</c>.</summary>
    public IntPtr UserData => GCHandle.ToIntPtr(_self);

    public void Dispose()
    {
        if (_self.IsAllocated)
        {
            _self.Free();
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static byte Evaluate(GgmlTensor* node, byte ask, IntPtr userData)
    {
        var self = (ImportanceCollector)GCHandle.FromIntPtr(userData).Target!;
        try
        {
            if (!Wanted(node, out var weight, out var activations))
            {
                return ask != 0 ? (byte)0 : (byte)1;
            }

            if (ask == 0)
            {
                self.Add(weight, activations);
            }

            return 1;
        }
        catch (Exception e)
        {
            // Nothing may unwind into native code: keep the error and stop the computation.
            self.Error ??= e;
            return 0;
        }
    }

    private static bool Wanted(GgmlTensor* node, out GgmlTensor* weight, out GgmlTensor* activations)
    {
        weight = (GgmlTensor*)node->Src0;
        activations = (GgmlTensor*)node->Src1;
        if (weight is null || activations is null || activations->Type != 0 /* GGML_TYPE_F32 */ || activations->Nb[0] != sizeof(float) || !IsMulMat(node->Op) ||
            weight->Ne[0] != activations->Ne[0])
        {
            return false;
        }

        return weight->Name[0] == 'b' && weight->Name[1] == 'l' && weight->Name[2] == 'k' && weight->Name[3] == '.';
    }

    // MUL_MAT only (MUL_MAT_ID, the mixture-of-experts form, is not gathered).
    private static bool IsMulMat(int op)
    {
        lock (OpGate)
        {
            if (!MulMatOps.TryGetValue(op, out var yes))
            {
                yes = Marshal.PtrToStringUTF8(NativeApi.ggml_op_name(op)) == "MUL_MAT";
                MulMatOps[op] = yes;
            }

            return yes;
        }
    }

    private void Add(GgmlTensor* weight, GgmlTensor* activations)
    {
        var name = weight->NameString();
        var columns = (int)activations->Ne[0];
        if (!Entries.TryGetValue(name, out var entry))
        {
            entry = (new double[columns], 0);
        }

        // Host memory is read in place; another backend's is copied out first.
        byte* data;
        var copy = !NativeApi.ggml_backend_buffer_is_host(activations->Buffer);
        if (copy)
        {
            var size = (int)NativeApi.ggml_nbytes(activations);
            if (_copy.Length < size)
            {
                _copy = new byte[size];
            }
        }

        fixed (byte* buffer = _copy)
        {
            if (copy)
            {
                NativeApi.ggml_backend_tensor_get(activations, buffer, 0, NativeApi.ggml_nbytes(activations));
                data = buffer;
            }
            else
            {
                data = (byte*)activations->Data;
            }

            var sums = entry.Sums;
            long rows = 0;
            for (long i3 = 0; i3 < activations->Ne[3]; i3++)
            {
                for (long i2 = 0; i2 < activations->Ne[2]; i2++)
                {
                    for (long i1 = 0; i1 < activations->Ne[1]; i1++)
                    {
                        var row = (float*)(data + (i1 * (long)activations->Nb[1]) + (i2 * (long)activations->Nb[2]) + (i3 * (long)activations->Nb[3]));
                        for (var j = 0; j < columns; j++)
                        {
                            sums[j] += (double)row[j] * row[j];
                        }

                        rows++;
                    }
                }
            }

            Entries[name] = (sums, entry.Rows + rows);
        }
    }
}
