using System.Text.Json;
using Maas.Core.Registry;
using Maas.Core.Training;

namespace Maas.Core.Jobs.Queue;

/// <summary>Reads the dataset versions out of a job's stored spec, for <see cref="IReadsDatasets"/>.</summary>
public static class SpecDatasets
{
    /// <summary>The datasets <paramref name="pick"/> finds in <paramref name="spec"/> read as <typeparamref name="TSpec"/>; none when it does not read.</summary>
    public static IEnumerable<DatasetReference> Read<TSpec>(string spec, Func<TSpec, IEnumerable<DatasetReference?>> pick)
        where TSpec : class
    {
        TSpec? read;
        try
        {
            read = JsonSerializer.Deserialize<TSpec>(spec, RegistryJson.Options);
        }
        catch (JsonException)
        {
            // A spec this server cannot read (written by another version) names nothing it could protect.
            return [];
        }

        return read is null ? [] : pick(read).OfType<DatasetReference>().ToArray();
    }
}
