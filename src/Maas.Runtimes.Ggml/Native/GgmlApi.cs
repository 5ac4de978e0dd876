using System.Runtime.InteropServices;

namespace Maas.Runtimes.Ggml.Native;

/// <summary>The ggml, ggml-backend, ggml-alloc and ggml-opt C functions MaaS calls (headers of the pinned build).</summary>
/// <remarks>Tensors and graphs belong to their context and are passed as raw pointers; everything freed has a SafeHandle.</remarks>
internal static unsafe partial class GgmlApi
{
    // An explicit static constructor runs before the first P/Invoke of this class, so the resolver is always in place.
    static GgmlApi() => GgmlLibrary.RegisterResolver();

    // ggml.h: contexts and tensors

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_init(GgmlInitParams parameters);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial void ggml_free(IntPtr context);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial nuint ggml_tensor_overhead();

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial nuint ggml_graph_overhead_custom(nuint size, [MarshalAs(UnmanagedType.U1)] bool grads);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_new_tensor_1d(SafeGgmlContextHandle context, GgmlType type, long ne0);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_new_tensor_2d(SafeGgmlContextHandle context, GgmlType type, long ne0, long ne1);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_new_tensor_4d(SafeGgmlContextHandle context, GgmlType type, long ne0, long ne1, long ne2, long ne3);

    [LibraryImport(GgmlLibrary.GgmlBase, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial IntPtr ggml_set_name(IntPtr tensor, string name);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial void ggml_set_param(IntPtr tensor);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial void ggml_set_input(IntPtr tensor);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial nuint ggml_nbytes(IntPtr tensor);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial void ggml_set_output(IntPtr tensor);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_new_graph_custom(SafeGgmlContextHandle context, nuint size, [MarshalAs(UnmanagedType.U1)] bool grads);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial void ggml_build_forward_expand(IntPtr graph, IntPtr tensor);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    [return: MarshalAs(UnmanagedType.U1)]
    internal static partial bool ggml_backend_sched_alloc_graph(SafeGgmlSchedHandle sched, IntPtr graph);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial int ggml_backend_sched_graph_compute(SafeGgmlSchedHandle sched, IntPtr graph);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial void ggml_backend_sched_reset(SafeGgmlSchedHandle sched);

    // ggml.h: operations (each adds a node to the graph; tensors live in the compute context)

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_mul_mat(SafeGgmlContextHandle context, IntPtr a, IntPtr b);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_add(SafeGgmlContextHandle context, IntPtr a, IntPtr b);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_sub(SafeGgmlContextHandle context, IntPtr a, IntPtr b);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_mul(SafeGgmlContextHandle context, IntPtr a, IntPtr b);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_div(SafeGgmlContextHandle context, IntPtr a, IntPtr b);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_sqr(SafeGgmlContextHandle context, IntPtr a);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_sqrt(SafeGgmlContextHandle context, IntPtr a);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_transpose(SafeGgmlContextHandle context, IntPtr a);

    [LibraryImport(GgmlLibrary.GgmlBase, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial IntPtr ggml_get_tensor(SafeGgmlContextHandle context, string name);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_repeat(SafeGgmlContextHandle context, IntPtr a, IntPtr shapeOf);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_sum_rows(SafeGgmlContextHandle context, IntPtr a);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_rms_norm(SafeGgmlContextHandle context, IntPtr a, float eps);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_scale(SafeGgmlContextHandle context, IntPtr a, float s);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_scale_bias(SafeGgmlContextHandle context, IntPtr a, float s, float b);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_relu(SafeGgmlContextHandle context, IntPtr a);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_neg(SafeGgmlContextHandle context, IntPtr a);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_exp(SafeGgmlContextHandle context, IntPtr a);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_softplus(SafeGgmlContextHandle context, IntPtr a);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_cont(SafeGgmlContextHandle context, IntPtr a);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_reshape_2d(SafeGgmlContextHandle context, IntPtr a, long ne0, long ne1);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_reshape_4d(SafeGgmlContextHandle context, IntPtr a, long ne0, long ne1, long ne2, long ne3);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_im2col(SafeGgmlContextHandle context, IntPtr kernel, IntPtr data, int s0, int s1, int p0, int p1, int d0, int d1,
    [MarshalAs(UnmanagedType.U1)] bool is2D, GgmlType dstType);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_view_4d(SafeGgmlContextHandle context, IntPtr a, long ne0, long ne1, long ne2, long ne3, nuint nb1, nuint nb2, nuint nb3, nuint offset);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_view_1d(SafeGgmlContextHandle context, IntPtr a, long ne0, nuint offset);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_pad(SafeGgmlContextHandle context, IntPtr a, int p0, int p1, int p2, int p3);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_get_rows(SafeGgmlContextHandle context, IntPtr a, IntPtr rows);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_acc(SafeGgmlContextHandle context, IntPtr a, IntPtr b, nuint nb1, nuint nb2, nuint nb3, nuint offset);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_permute(SafeGgmlContextHandle context, IntPtr a, int axis0, int axis1, int axis2, int axis3);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_pool_2d(SafeGgmlContextHandle context, IntPtr a, GgmlPool op, int k0, int k1, int s0, int s1, float p0, float p1);

    // ggml-backend.h and ggml-alloc.h

    [LibraryImport(GgmlLibrary.Ggml, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial void ggml_backend_load_all_from_path(string directory);

    [LibraryImport(GgmlLibrary.Ggml)]
    internal static partial IntPtr ggml_backend_dev_by_type(GgmlDeviceType type);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_backend_dev_backend_reg(IntPtr device);

    [LibraryImport(GgmlLibrary.GgmlBase, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial IntPtr ggml_backend_reg_get_proc_address(IntPtr registry, string name);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_backend_dev_init(IntPtr device, byte* parameters);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial void ggml_backend_free(IntPtr backend);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_backend_alloc_ctx_tensors(SafeGgmlContextHandle context, SafeGgmlBackendHandle backend);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial void ggml_backend_buffer_free(IntPtr buffer);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial void ggml_backend_tensor_set(IntPtr tensor, void* data, nuint offset, nuint size);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial void ggml_backend_tensor_get(IntPtr tensor, void* data, nuint offset, nuint size);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_backend_sched_new(IntPtr* backends, IntPtr* bufferTypes, int count, nuint graphSize, [MarshalAs(UnmanagedType.U1)] bool parallel,
    [MarshalAs(UnmanagedType.U1)] bool opOffload);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial void ggml_backend_sched_free(IntPtr sched);

    // ggml-opt.h

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial GgmlOptParams ggml_opt_default_params(SafeGgmlSchedHandle sched, GgmlOptLossType lossType);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_opt_init(GgmlOptParams parameters);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial void ggml_opt_free(IntPtr opt);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_opt_inputs(SafeGgmlOptHandle opt);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_opt_outputs(SafeGgmlOptHandle opt);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_opt_labels(SafeGgmlOptHandle opt);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial void ggml_opt_alloc(SafeGgmlOptHandle opt, [MarshalAs(UnmanagedType.U1)] bool backward);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial void ggml_opt_eval(SafeGgmlOptHandle opt, SafeGgmlOptResultHandle result);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial void ggml_opt_reset(SafeGgmlOptHandle opt, [MarshalAs(UnmanagedType.U1)] bool optimizer);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_opt_grad_acc(SafeGgmlOptHandle opt, IntPtr node);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial GgmlOptimizerType ggml_opt_context_optimizer_type(SafeGgmlOptHandle opt);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial GgmlOptOptimizerParams ggml_opt_get_default_optimizer_params(IntPtr userData);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial IntPtr ggml_opt_result_init();

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial void ggml_opt_result_free(IntPtr result);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial void ggml_opt_result_reset(SafeGgmlOptResultHandle result);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial void ggml_opt_result_ndata(SafeGgmlOptResultHandle result, long* ndata);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial void ggml_opt_result_loss(SafeGgmlOptResultHandle result, double* loss, double* uncertainty);

    [LibraryImport(GgmlLibrary.GgmlBase)]
    internal static partial void ggml_opt_result_accuracy(SafeGgmlOptResultHandle result, double* accuracy, double* uncertainty);
}
