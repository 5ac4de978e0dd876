using Maas.Runtimes.Ggml;

namespace Maas.Training;

/// <summary>
/// Two weight sets (the latest and the best epoch's) and the optimiser's state in one little-endian file, for
/// checkpoints; files written before the optimiser's state was kept end after the weights.
/// </summary>
internal static class WeightsFile
{
    public static void Write(string path, GgmlWeights current, GgmlWeights best, GgmlOptimizerState optimizer)
    {
        using var writer = new BinaryWriter(File.Create(path));
        foreach (var weights in new[] { current, best })
        {
            writer.Write(weights.Layers.Count);
            foreach (var (layer, tensors) in weights.Layers)
            {
                writer.Write(layer);
                writer.Write(tensors.Count);
                foreach (var tensor in tensors)
                {
                    writer.Write(tensor.Length);
                    writer.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(tensor.AsSpan()));
                }
            }
        }

        writer.Write(optimizer.Epochs);
        writer.Write(optimizer.Steps);
        writer.Write(optimizer.Moments.Count);
        foreach (var moment in optimizer.Moments)
        {
            writer.Write(moment.Length);
            writer.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(moment.AsSpan()));
        }
    }

    public static (GgmlWeights Current, GgmlWeights Best, GgmlOptimizerState? Optimizer) Read(string path)
    {
        using var reader = new BinaryReader(File.OpenRead(path));
        GgmlWeights One()
        {
            var layers = new Dictionary<int, IReadOnlyList<float[]>>();
            var count = reader.ReadInt32();
            for (var i = 0; i < count; i++)
            {
                var layer = reader.ReadInt32();
                var tensors = new float[reader.ReadInt32()][];
                for (var t = 0; t < tensors.Length; t++)
                {
                    tensors[t] = new float[reader.ReadInt32()];
                    reader.BaseStream.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(tensors[t].AsSpan()));
                }

                layers[layer] = tensors;
            }

            return new GgmlWeights(layers);
        }

        var (current, best) = (One(), One());
        if (reader.BaseStream.Position == reader.BaseStream.Length)
        {
            return (current, best, null);
        }

        var epochs = reader.ReadInt32();
        var steps = reader.ReadInt64();
        var moments = new float[reader.ReadInt32()][];
        for (var m = 0; m < moments.Length; m++)
        {
            moments[m] = new float[reader.ReadInt32()];
            reader.BaseStream.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(moments[m].AsSpan()));
        }

        return (current, best, new GgmlOptimizerState(epochs, steps, moments));
    }
}
