namespace Maas.Server.Optimization;

/// <summary>POST /api/v1/models/{name}/versions/{n}:force-serve: serve (true) or stop serving (false) a version its gate rejected.</summary>
public sealed record ForceServeRequest(bool? Serve, string? Reason);
