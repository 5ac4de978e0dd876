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
    int Instances = 0);

/// <summary>A loaded model's memory, measured when it loaded and (mapped pages) when read.</summary>
/// <param name="EstimatedBytes">The engine's estimate before loading.</param>
/// <param name="ResidentDeltaBytes">What the process grew by while it loaded: its anonymous memory plus the resident pages of the model file (libraries the engine mapped are not counted).</param>
/// <param name="PrivateBytes">Of that growth, memory not backed by the model file (anonymous: heap, engine buffers).</param>
/// <param name="MappedFileBytes">Resident pages of the model file mapped now (file-backed, the kernel may drop them).</param>
/// <param name="EngineBytes">What the engine itself counts (weights, caches; 0 when it cannot tell).</param>
/// <param name="AccountedBytes">What the memory budget charges: the largest of the estimate and the measurements.</param>
/// <param name="LoadPeakBytes">How far the process's resident size rose above its size before the load while it ran (0 when the system cannot tell); room is made for this much when the version loads again.</param>
public sealed record ModelMemory(long EstimatedBytes, long ResidentDeltaBytes, long PrivateBytes, long MappedFileBytes, long EngineBytes, long AccountedBytes, long LoadPeakBytes = 0);
