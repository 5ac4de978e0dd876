using Dapper;
using Maas.Core.Registry;

namespace Maas.Storage.Sql;

/// <summary>
/// A resumable upload session's row as the model and dataset stores read it (their queries name the model or the
/// dataset <c>target</c>), and the parameters both write: one mapping for what every session has.
/// </summary>
internal sealed class UploadSessionRow
{
    public string Id { get; set; } = "";

    public string Target { get; set; } = "";

    public string Owner { get; set; } = "";

    public string FileName { get; set; } = "";

    public long? TotalBytes { get; set; }

    public string? ExpectedSha256 { get; set; }

    public string CreatedBy { get; set; } = "";

    public long CreatedAt { get; set; }

    public long ExpiresAt { get; set; }

    /// <summary>The columns every session table has, in the order <see cref="Parameters"/> names them.</summary>
    public const string InsertColumns = "id, file_name, total_bytes, expected_sha256, created_by, created_at, expires_at";

    /// <summary>The values for <see cref="InsertColumns"/>.</summary>
    public const string InsertValues = "@Id, @FileName, @TotalBytes, @ExpectedSha256, @CreatedBy, @CreatedAt, @ExpiresAt";

    /// <summary>The parameters of an insert of <paramref name="session"/>'s common columns; a store adds its target's.</summary>
    public static DynamicParameters Parameters(ResumableSession session)
    {
        var parameters = new DynamicParameters();
        parameters.Add("Id", session.Id);
        parameters.Add("FileName", session.FileName);
        parameters.Add("TotalBytes", session.TotalBytes);
        parameters.Add("ExpectedSha256", session.ExpectedSha256);
        parameters.Add("CreatedBy", session.CreatedBy);
        parameters.Add("CreatedAt", session.CreatedAt.ToUnixTimeMilliseconds());
        parameters.Add("ExpiresAt", session.ExpiresAt.ToUnixTimeMilliseconds());
        return parameters;
    }

    /// <summary><paramref name="session"/> (made with its id, file name and target) with the rest of this row.</summary>
    public T Fill<T>(T session)
        where T : ResumableSession => (T)((ResumableSession)session with
        {
            TotalBytes = TotalBytes,
            ExpectedSha256 = ExpectedSha256,
            CreatedBy = CreatedBy,
            CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(CreatedAt),
            ExpiresAt = DateTimeOffset.FromUnixTimeMilliseconds(ExpiresAt),
        });
}
