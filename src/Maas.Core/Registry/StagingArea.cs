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

    /// <summary>
    /// Creates the staging area under <paramref name="root"/> (created when missing). With <paramref name="instanceId"/>
    /// (this process's <see cref="Instances.InstanceHeartbeat.Id"/>) each draft's name starts with that instance's id
    /// (<c>{instance}-{random}</c>), so processes sharing the folder sweep only the drafts of instances that are gone.
    /// </summary>
    public StagingArea(string root, string? instanceId = null)
    {
        Root = Path.GetFullPath(root);
        InstanceId = instanceId;
        Directory.CreateDirectory(Path.Combine(Root, DraftsFolder));
        Directory.CreateDirectory(Path.Combine(Root, SessionsFolder));
    }

    /// <summary>The staging folder.</summary>
    public string Root { get; }

    /// <summary>The instance whose drafts this area stages (null: drafts directly in the drafts folder).</summary>
    public string? InstanceId { get; }

    /// <summary>A new empty folder for one version's files.</summary>
    public string CreateDraftFolder()
    {
        var path = Path.Combine(Root, DraftsFolder, InstanceId is null ? Guid.NewGuid().ToString("n") : $"{InstanceId}-{Guid.NewGuid():n}");
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>
    /// Removes the drafts of every instance not in <paramref name="liveInstances"/> (crashed or stopped ones, whose
    /// uploads ended with them) and drafts of no instance (an earlier layout, or a process without one); returns how
    /// many entries went. The drafts are listed first and <paramref name="liveInstances"/> asked after, so a draft of an
    /// instance that starts meanwhile (registered before it stages anything) is seen with its instance live.
    /// </summary>
    public async Task<int> SweepDraftsAsync(Func<CancellationToken, Task<IReadOnlySet<string>>> liveInstances, CancellationToken cancellationToken)
    {
        var entries = Directory.EnumerateFileSystemEntries(Path.Combine(Root, DraftsFolder)).ToList();
        var live = await liveInstances(cancellationToken).ConfigureAwait(false);
        var removed = 0;
        foreach (var entry in entries)
        {
            var name = Path.GetFileName(entry);
            var dash = name.IndexOf('-', StringComparison.Ordinal);
            if (dash <= 0 || !live.Contains(name[..dash]))
            {
                DeleteQuietly(entry);
                removed++;
            }
        }

        return removed;
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
    /// Removes the session files no session record owns, safely while uploads run and start (in this server or in
    /// another sharing the folder and the database): the files are listed first and <paramref name="sessionsWithRecords"/>
    /// is asked after, so the file of a session whose record was written before it (every upload's order) has its
    /// session in the answer and stays. Only files without a record by then go: a crash's leftovers. Draft folders,
    /// which have no record, are left alone (<see cref="SweepDraftsAsync"/> takes them). Returns how many files went.
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
