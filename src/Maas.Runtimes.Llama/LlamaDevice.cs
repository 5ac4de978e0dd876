namespace Maas.Runtimes.Llama;

/// <summary>A compute device ggml registered (the CPU backend, or a GPU with a CUDA/Vulkan build).</summary>
/// <param name="Name">Device name, e.g. "CPU".</param>
/// <param name="Description">What the backend says about it (CPU model, GPU name).</param>
/// <param name="Type">CPU, GPU, integrated GPU or accelerator.</param>
/// <param name="FreeBytes">Free memory the device reports.</param>
/// <param name="TotalBytes">Total memory the device reports.</param>
public sealed record LlamaDevice(string Name, string Description, LlamaDeviceType Type, long FreeBytes, long TotalBytes);
