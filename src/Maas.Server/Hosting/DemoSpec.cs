using Maas.Core.Formats;

namespace Maas.Server.Hosting;

/// <summary>A demo model offered once on a fresh data folder: what it is and how its file is written.</summary>
/// <param name="Name">Registry name (default tenant, shared).</param>
/// <param name="MarkerFile">The file in the data folder that records the demo was offered, so a deleted demo stays deleted.</param>
/// <param name="Format">The demo is registered only when the registry holds no model of this format.</param>
/// <param name="Description">The model's description.</param>
/// <param name="Task">The model's task.</param>
/// <param name="FileName">The artifact's file name.</param>
/// <param name="WriteFile">Writes the artifact to a path (the same bytes on every machine).</param>
/// <param name="Metadata">Version metadata.</param>
public sealed record DemoSpec(
    string Name, string MarkerFile, ModelFormat Format, string Description, string Task, string FileName, Action<string> WriteFile,
    IReadOnlyDictionary<string, string>? Metadata = null);
