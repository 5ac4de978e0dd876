namespace Maas.Storage.Sql;

/// <summary>One schema step, written once per database; applied in order and recorded in schema_migrations.</summary>
public sealed record Migration(int Version, string Name, string Sqlite, string Postgres);
