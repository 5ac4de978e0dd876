namespace Maas.Core.Tenancy;

/// <summary>
/// The database refused the values of records being appended (a NUL in text, a missing required value): writing the
/// same records again cannot succeed, unlike a database that is down, busy or locked.
/// </summary>
public sealed class RecordsRefusedException(string message, Exception inner) : Exception(message, inner);
