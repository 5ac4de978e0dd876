using Maas.Server.Deployments;
using Maas.Server.Payloads;

namespace Maas.Server.TensorInference;

/// <summary>What a tensor inference call needs besides the model manager, on REST and gRPC alike.</summary>
/// <param name="Router">Picks the version of a call without one from the model's deployment (canary, shadows).</param>
/// <param name="Shadows">Sends copies of answered calls to a deployment's shadow versions.</param>
/// <param name="Payloads">The opt-in payload log.</param>
/// <param name="SharedMemory">The system shared-memory regions calls may pass tensors through.</param>
internal sealed record InferenceCallServices(DeploymentRouter Router, ShadowQueue Shadows, PayloadLog Payloads, SharedMemory.SystemSharedMemoryRegistry SharedMemory);
