namespace Maas.Core.Tenancy;

/// <summary>One management action in the append-only audit log: who did what to what, when, from where, and how it ended.</summary>
public sealed record AuditEntry
{
    /// <summary>The row id (assigned by the database; 0 before it is written).</summary>
    public long Id { get; init; }

    /// <summary>When the action was requested.</summary>
    public required DateTimeOffset At { get; init; }

    /// <summary>The key id that acted, "system" for the server itself, or "anonymous".</summary>
    public required string Actor { get; init; }

    /// <summary>The tenant the actor belongs to.</summary>
    public string? ActorTenant { get; init; }

    /// <summary>What was done, e.g. "keys.create" or "DELETE /api/v1/models/{name}".</summary>
    public required string Action { get; init; }

    /// <summary>What it was done to, e.g. "name=mlp,version=2" or a key id.</summary>
    public string? Target { get; init; }

    /// <summary>The client's address.</summary>
    public string? Client { get; init; }

    /// <summary>The request id.</summary>
    public string? RequestId { get; init; }

    /// <summary>The HTTP status answered.</summary>
    public int Status { get; init; }

    /// <summary>"success", "denied" (401/403/404 from access control), "rejected" (other 4xx) or "failed" (5xx).</summary>
    public required string Result { get; init; }

    /// <summary>Classifies a status into <see cref="Result"/>.</summary>
    public static string ResultOf(int status) => status switch
    {
        < 400 => "success",
        401 or 403 => "denied",
        < 500 => "rejected",
        _ => "failed",
    };
}
