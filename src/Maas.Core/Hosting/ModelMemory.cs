namespace Maas.Core.Hosting;

/// <summary>A loaded model's memory, measured when it loaded and (mapped pages) when read.</summary>
/// <param name="EstimatedBytes">The engine's estimate before loading.</param>
/// <param name="ResidentDeltaBytes">What the process grew by while it loaded: its anonymous memory plus the resident pages of the model file (libraries the engine mapped are not
/// counted).</param>
/// <param name="PrivateBytes">Of that growth, memory not backed by the model file (anonymous: heap, engine buffers).</param>
/// <param name="MappedFileBytes">Resident pages of the model file mapped now (file-backed, the kernel may drop them).</param>
/// <param name="EngineBytes">What the engine itself counts (weights, caches; 0 when it cannot tell).</param>
/// <param name="AccountedBytes">What the memory budget charges: the largest of the estimate and the measurements.</param>
/// <param name="LoadPeakBytes">How far the process's resident size rose above its size before the load while it ran (0 when the system cannot tell); room is made for this much
/// when the version loads again.</param>
public sealed record ModelMemory(long EstimatedBytes, long ResidentDeltaBytes, long PrivateBytes, long MappedFileBytes, long EngineBytes, long AccountedBytes,
    long LoadPeakBytes = 0);
