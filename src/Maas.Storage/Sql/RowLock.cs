namespace Maas.Storage.Sql;

/// <summary>How a SELECT locks the rows it reads until its transaction ends (PostgreSQL's row locks; SQLite needs none).</summary>
public enum RowLock
{
    /// <summary>Excludes every other lock on the rows (FOR UPDATE): the rows may change or disappear.</summary>
    Update,

    /// <summary>Keeps the rows from changing at all (FOR SHARE).</summary>
    Share,

    /// <summary>Keeps the rows' keys from changing and an exclusive lock from being taken (FOR KEY SHARE).</summary>
    KeyShare,
}
