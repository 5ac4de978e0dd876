using Maas.Core.TensorServing;
using Maas.Server.TensorInference.Grpc.Protocol;
using Maas.Server.TensorInference.Rest;

namespace Maas.Server.TensorInference.Grpc;

/// <summary>
/// The model configuration extension over gRPC (<c>ModelConfig</c>): the same fields, from the same signature and
/// scheduling, as REST's <see cref="V2ModelConfig"/> writes as JSON.
/// </summary>
internal static class GrpcModelConfig
{
    /// <summary>The version's configuration as a <c>ModelConfig</c> message.</summary>
    public static ModelConfig Build(ModelDescription d, SchedulerOptions s)
    {
        var batched = V2ModelConfig.IsBatched(d, s);
        var config = new ModelConfig
        {
            Name = d.Name,
            Platform = d.Platform,
            Backend = d.Platform == "onnxruntime_onnx" ? "onnxruntime" : d.Platform,
            VersionPolicy = new ModelVersionPolicy { All = new ModelVersionPolicy.Types.All() }, // every registry version is served
            MaxBatchSize = batched ? s.MaxBatchSize : 0,
        };
        foreach (var t in d.Inputs)
        {
            var input = new ModelInput { Name = t.Name, DataType = DataTypeOf(t.DataType), Format = ModelInput.Types.Format.None };
            input.Dims.Add(batched ? t.Shape.Skip(1) : t.Shape);
            config.Input.Add(input);
        }

        foreach (var t in d.Outputs)
        {
            var output = new ModelOutput { Name = t.Name, DataType = DataTypeOf(t.DataType) };
            output.Dims.Add(batched ? t.Shape.Skip(1) : t.Shape);
            config.Output.Add(output);
        }

        if (batched)
        {
            config.DynamicBatching = new ModelDynamicBatching { MaxQueueDelayMicroseconds = (ulong)s.MaxQueueDelay.TotalMicroseconds };
            config.DynamicBatching.PreferredBatchSize.Add(s.PreferredBatchSizes);
        }

        config.InstanceGroup.Add(new ModelInstanceGroup { Name = d.Name + "_0", Kind = ModelInstanceGroup.Types.Kind.Cpu, Count = s.InstanceCount });
        return config;
    }

    // Triton's data types (BYTES is TYPE_STRING), as REST names them (V2ModelConfig.DataType).
    private static DataType DataTypeOf(TensorDataType type) => type switch
    {
        TensorDataType.Bool => DataType.TypeBool,
        TensorDataType.UInt8 => DataType.TypeUint8,
        TensorDataType.UInt16 => DataType.TypeUint16,
        TensorDataType.UInt32 => DataType.TypeUint32,
        TensorDataType.UInt64 => DataType.TypeUint64,
        TensorDataType.Int8 => DataType.TypeInt8,
        TensorDataType.Int16 => DataType.TypeInt16,
        TensorDataType.Int32 => DataType.TypeInt32,
        TensorDataType.Int64 => DataType.TypeInt64,
        TensorDataType.FP16 => DataType.TypeFp16,
        TensorDataType.BF16 => DataType.TypeBf16,
        TensorDataType.FP32 => DataType.TypeFp32,
        TensorDataType.FP64 => DataType.TypeFp64,
        TensorDataType.Bytes => DataType.TypeString,
        _ => DataType.TypeInvalid,
    };
}
