namespace Maas.Core.Registry;

/// <summary>
/// The local folder where uploads land before they are validated and committed: one folder per version being
/// created, one file per resumable session. Nothing here is visible to readers of the registry.
/// </summary>
public sealed class StagingArea
{
    private const string DraftsFolder = "drafts";
    private const string SessionsFolder = "sessions";
    private const string SessionSuffix = ".part";

    /// <summary>Creates the staging area under <paramref name="root"/> (created when missing).</summary>
    public StagingArea(string root)
    {
        Root = Path.GetFullPath(root);
        Directory.CreateDirectory(Path.Combine(Root, DraftsFolder));
        Directory.CreateDirectory(Path.Combine(Root, SessionsFolder));
    }

    /// <summary>The staging folder.</summary>
    public string Root { get; }

    /// <summary>A new empty folder for one version's files.</summary>
    public string CreateDraftFolder()
    {
        var path = Path.Combine(Root, DraftsFolder, Guid.NewGuid().ToString("n"));
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>The file a resumable session's bytes are appended to.</summary>
    public string SessionFile(string sessionId) => Path.Combine(Root, SessionsFolder, sessionId + SessionSuffix);

    /// <summary>Deletes a file or folder, ignoring what is already gone.</summary>
    public static void DeleteQuietly(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
            else
            {
                File.Delete(path);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A leftover is removed by the next start-up sweep; failing the caller for it helps no one.
        }
    }

    /// <summary>
    /// Removes every draft folder (only a running upload owns one, and at start-up none runs) and every session file
    /// whose session is not in <paramref name="liveSessions"/>; returns how many entries went.
    /// </summary>
    public int Sweep(IReadOnlySet<string> liveSessions)
    {
        var removed = 0;
        foreach (var entry in Directory.EnumerateFileSystemEntries(Path.Combine(Root, DraftsFolder)))
        {
            DeleteQuietly(entry);
            removed++;
        }

        return removed + RemoveSessionFiles(SessionFiles(), liveSessions);
    }

    /// <summary>
    /// Removes the session files no session record owns, safely while uploads run and start (in this server or in
    /// another sharing the folder and the database): the files are listed first and <paramref name="sessionsWithRecords"/>
    /// is asked after, so the file of a session whose record was written before it (every upload's order) has its
    /// session in the answer and stays. Only files without a record by then go: a crash's leftovers. Draft folders,
    /// which have no record, are left alone (<see cref="Sweep"/> at start-up takes them). Returns how many files went.
    /// </summary>
    public async Task<int> SweepSessionFilesAsync(Func<CancellationToken, Task<IReadOnlySet<string>>> sessionsWithRecords, CancellationToken cancellationToken)
    {
        var files = SessionFiles();
        var owned = await sessionsWithRecords(cancellationToken).ConfigureAwait(false);
        return RemoveSessionFiles(files, owned);
    }

    private List<string> SessionFiles() => Directory.EnumerateFiles(Path.Combine(Root, SessionsFolder)).ToList();

    private static int RemoveSessionFiles(List<string> files, IReadOnlySet<string> owned)
    {
        var removed = 0;
        foreach (var file in files)
        {
            var name = Path.GetFileName(file);
            var id = name.EndsWith(SessionSuffix, StringComparison.Ordinal) ? name[..^SessionSuffix.Length] : name;
            if (!owned.Contains(id))
            {
                DeleteQuietly(file);
                removed++;
            }
        }

        return removed;
    }
}
