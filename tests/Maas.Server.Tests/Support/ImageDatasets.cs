using Maas.Server.Tests.Training;
using Maas.Testing;

namespace Maas.Server.Tests.Support;

/// <summary>Small image datasets for the training and pruning tests: generated pictures uploaded as an IDX zip.</summary>
public static class ImageDatasets
{
    /// <summary>
    /// Uploads <paramref name="count"/> generated pictures (<see cref="TinyImages"/>) of <paramref name="size"/>×<paramref name="size"/>
    /// from <paramref name="seed"/> as a new dataset; returns its name and the pictures with their labels.
    /// </summary>
    public static async Task<(string Name, byte[][] Images, int[] Labels)> UploadAsync(HttpClient client, int count, int size, int seed, string fileName)
    {
        var (images, labels) = TinyImages.Generate(count, size, seed);
        var name = await TrainingApiTests.DatasetAsync(client, IdxFiles.Zip(images, labels, size, size), fileName);
        return (name, images, labels);
    }
}
