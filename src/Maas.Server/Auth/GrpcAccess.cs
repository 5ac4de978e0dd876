using Maas.Core.Tenancy;

namespace Maas.Server.Auth;

/// <summary>The scope of each method of <c>inference.GRPCInferenceService</c> (the gRPC listener has no endpoint metadata).</summary>
public static class GrpcAccess
{
    /// <summary>The service's path prefix.</summary>
    public const string ServicePrefix = "/inference.GRPCInferenceService/";

    private static readonly ScopeRequirement InferOrRead = new([MaasScopes.Infer, MaasScopes.ModelsRead]);
    private static readonly ScopeRequirement Infer = new([MaasScopes.Infer]);
    private static readonly ScopeRequirement Read = new([MaasScopes.ModelsRead]);
    private static readonly ScopeRequirement Write = new([MaasScopes.ModelsWrite]);

    /// <summary>Each method and what it needs; ServerLive and ServerReady are the protocol's health probes (no key).</summary>
    public static IReadOnlyDictionary<string, ScopeRequirement?> Methods { get; } = new Dictionary<string, ScopeRequirement?>(StringComparer.Ordinal)
    {
        ["ServerLive"] = null,
        ["ServerReady"] = null,
        ["ServerMetadata"] = InferOrRead,
        ["ModelReady"] = InferOrRead,
        ["ModelMetadata"] = InferOrRead,
        ["ModelInfer"] = Infer,
        ["ModelStreamInfer"] = Infer,
        ["ModelStatistics"] = Read,
        ["RepositoryIndex"] = Read,
        ["RepositoryModelLoad"] = Write,
        ["RepositoryModelUnload"] = Write,
        ["ModelConfig"] = Read,
        ["SystemSharedMemoryStatus"] = Infer,
        ["SystemSharedMemoryRegister"] = Infer,
        ["SystemSharedMemoryUnregister"] = Infer,
    };

    private static readonly AccessRule Unknown = new(AccessKind.Scoped, new ScopeRequirement(MaasScopes.All), null, null, "oip-grpc", "unknown");

    private static readonly Dictionary<string, AccessRule> Rules = Methods.ToDictionary(
        m => ServicePrefix + m.Key,
        m => m.Value is null
            ? new AccessRule(AccessKind.Anonymous, null, null, null, "oip-grpc", m.Key)
            : new AccessRule(AccessKind.Scoped, m.Value, null, "grpc." + m.Key, "oip-grpc", m.Key),
        StringComparer.Ordinal);

    /// <summary>The rule for a request path such as /inference.GRPCInferenceService/ModelInfer; unknown methods still need a key.</summary>
    public static AccessRule Resolve(string path) => Rules.GetValueOrDefault(path, Unknown);
}
