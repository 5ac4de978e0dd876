using Maas.Core.Jobs;

namespace Maas.Core.Registry.Import;

/// <summary>
/// An import's stages and the percent the job shows for them: the download fills the bar up to
/// <see cref="DownloadedPercent"/> by bytes, the checks and the commit after it take the rest, and 100 comes only with
/// the registered version (the job succeeded). A job that fails while checking the file thus ends below 100.
/// </summary>
public static class ImportProgress
{
    /// <summary>Fetching the file (also shown as "resuming at byte N ..." after a broken connection).</summary>
    public const string Downloading = "downloading";

    /// <summary>
    /// The whole file is in: its checksum is compared, it is staged into the version and its format is checked (ONNX,
    /// GGUF; a file an upload would be refused for fails here, with the upload's error). A cancel still stops it.
    /// </summary>
    public const string Validating = "validating";

    /// <summary>Past the point of no return: the checked file is committed as the version.</summary>
    public const string Registering = "registering";

    /// <summary>The percent a finished download shows; its bytes fill the bar from 0 to here.</summary>
    public const double DownloadedPercent = 90;

    /// <summary>The percent shown while the version is being registered.</summary>
    public const double RegisteringPercent = 95;

    /// <summary>
    /// The percent <paramref name="job"/> (an import) shows: 100 once it succeeded; by its stage past the download;
    /// while it downloads its share of the bytes (null while the size is unknown). A failed or cancelled import keeps
    /// the percent of the stage it stopped in.
    /// </summary>
    public static double? Percent(Job job) => job.Status == JobStatus.Succeeded
        ? 100
        : job.Stage switch
        {
            Registering => RegisteringPercent,
            Validating => DownloadedPercent,
            _ => job.BytesTotal is > 0 and var total
                ? Math.Round(Math.Min(DownloadedPercent, DownloadedPercent * job.BytesDone / total), 2)
                : null,
        };
}
