using Maas.Core.Jobs;

namespace Maas.Testing;

/// <summary>Import jobs as the import runner stores them once they succeeded, for tests that list and page jobs.</summary>
public static class FinishedImports
{
    /// <summary>A succeeded import of version 1 of <paramref name="model"/>, created, updated and finished at <paramref name="at"/>.</summary>
    public static Job Of(string id, string tenant, string? model, DateTimeOffset at) => new()
    {
        Id = id,
        Kind = "import",
        Status = JobStatus.Succeeded,
        Model = model,
        Version = 1,
        Tenant = tenant,
        CreatedBy = "test",
        CreatedAt = at,
        UpdatedAt = at,
        FinishedAt = at,
    };
}
