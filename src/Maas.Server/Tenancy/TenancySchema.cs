using Maas.Storage.Sql;
using Maas.Storage.Tenancy;

namespace Maas.Server.Tenancy;

/// <summary>The migration list tenancy applies at start: the registry's steps plus its own, in one list.</summary>
/// <remarks>
/// The runner refuses a database newer than the list it is given, so both features must always migrate with
/// the same complete list. Once the registry's <see cref="Migrations.All"/> includes the tenancy steps this is
/// that list unchanged.
/// </remarks>
internal static class TenancySchema
{
    /// <summary>Every step, each version once.</summary>
    public static IReadOnlyList<Migration> Steps { get; } =
        Migrations.All.Concat(TenancyMigrations.All).GroupBy(m => m.Version).Select(g => g.First()).OrderBy(m => m.Version).ToArray();
}
