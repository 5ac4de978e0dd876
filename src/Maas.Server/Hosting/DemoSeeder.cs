using Maas.Core.Registry;

namespace Maas.Server.Hosting;

/// <summary>Registers the demo models on the first start.</summary>
public static class DemoSeeder
{
    /// <summary>
    /// Registers <paramref name="demo"/> on the first start whose registry holds no model of its format; returns true
    /// when it did. Other formats do not count, so every demo appears on a fresh data folder.
    /// </summary>
    public static async Task<bool> SeedAsync(IModelRegistry registry, string dataDir, DemoSpec demo, CancellationToken cancellationToken)
    {
        var marker = Path.Combine(dataDir, demo.MarkerFile);
        if (File.Exists(marker))
        {
            return false;
        }

        var existing = await registry.ListModelsAsync(new ModelQuery { Format = demo.Format, Limit = 1 }, cancellationToken);
        if (existing.Total == 0)
        {
            await RegisterAsync(registry, demo, cancellationToken);
        }

        Directory.CreateDirectory(dataDir);
        await File.WriteAllTextAsync(marker, $"{DateTimeOffset.UtcNow:O}\n", cancellationToken);
        return existing.Total == 0;
    }

    private static async Task RegisterAsync(IModelRegistry registry, DemoSpec demo, CancellationToken cancellationToken)
    {
        try
        {
            await registry.CreateModelAsync(
                new NewModel(demo.Name, demo.Description, ["demo"], demo.Task, ModelVisibility.Shared, Model.DefaultOwner, "maas"),
                cancellationToken);
        }
        catch (RegistryException ex) when (ex.Kind == RegistryErrorKind.Conflict)
        {
            return; // another node sharing the database registered it
        }

        var staged = Path.Combine(Path.GetTempPath(), $"maas-{demo.Name}-{Guid.NewGuid():N}");
        try
        {
            demo.WriteFile(staged);
            var options = new NewVersionOptions { CreatedBy = "maas", Metadata = demo.Metadata ?? new Dictionary<string, string>() };
            await using var draft = await registry.BeginVersionAsync(demo.Name, options, cancellationToken);
            await using (var content = File.OpenRead(staged))
            {
                await draft.AddFileAsync(demo.FileName, content, null, cancellationToken);
            }

            await registry.CommitVersionAsync(draft, cancellationToken);
        }
        finally
        {
            File.Delete(staged);
        }
    }
}
