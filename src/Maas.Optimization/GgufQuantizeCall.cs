using Maas.Runtimes.Llama;

namespace Maas.Optimization;

/// <summary>
/// The native quantiser call of "gguf-quantize" jobs (<see cref="LlamaQuantizer.Quantize"/> unless a host replaces it:
/// a test stands in for a long run). It cannot be interrupted: the pinned llama.cpp's quantize parameters have no
/// progress or abort callback.
/// </summary>
public delegate void GgufQuantizeCall(string input, string output, LlamaQuantizeOptions options);
