using Maas.Core.Formats;

namespace Maas.Core.Hosting;

/// <summary>One model version as the host sees it now.</summary>
/// <param name="Key">The version.</param>
/// <param name="Engine">The engine that loads it.</param>
/// <param name="Format">Its file format.</param>
/// <param name="State">Its state.</param>
/// <param name="Reason">Why it is in that state, when not ready ("" when ready).</param>
/// <param name="InFlight">Requests holding it now.</param>
/// <param name="Pinned">Never evicted nor unloaded when idle.</param>
/// <param name="KeepAlive">Unloaded after this long idle (zero: stays).</param>
/// <param name="LastUsed">When a request last took or released it.</param>
/// <param name="LoadedAt">When the loaded instance finished loading (null when not loaded).</param>
/// <param name="Memory">Its memory while loaded (null when not loaded).</param>
/// <param name="Instances">Engine instances serving it (0 when not loaded).</param>
/// <param name="ArtifactKey">The registry's key of the files the loaded instance came from ("" when not loaded or unknown).</param>
public sealed record HostedModelStatus(
    ModelKey Key,
    string Engine,
    ModelFormat Format,
    ModelState State,
    string Reason,
    int InFlight,
    bool Pinned,
    TimeSpan KeepAlive,
    DateTimeOffset LastUsed,
    DateTimeOffset? LoadedAt,
    ModelMemory? Memory,
    int Instances = 0,
    string ArtifactKey = "");
