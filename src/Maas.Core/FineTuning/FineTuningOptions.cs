namespace Maas.Core.FineTuning;

/// <summary>Limits and defaults of the files and fine-tuning APIs ("Maas:FineTuning" section).</summary>
public sealed class FineTuningOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string Section = "Maas:FineTuning";

    /// <summary>Largest uploaded file, in bytes.</summary>
    public long MaxFileBytes { get; set; } = 256L << 20;

    /// <summary>Most examples (lines) in one file.</summary>
    public int MaxExamples { get; set; } = 100_000;

    /// <summary>Most parts in one multipart upload (the file and the purpose field, and a few more).</summary>
    public int MaxMultipartFields { get; set; } = 8;

    /// <summary>Largest non-file multipart field, in bytes.</summary>
    public int MaxMultipartFieldBytes { get; set; } = 4096;

    /// <summary>Tokens per packed training window (a multiple of 256): the longest chat that can be trained.</summary>
    public int Window { get; set; } = 512;

    /// <summary>Threads one fine-tuning job uses; default half the cores (at least 1), so serving keeps the rest.</summary>
    public int Threads { get; set; } = Math.Max(1, Environment.ProcessorCount / 2);

    /// <summary>AdamW's learning rate at learning_rate_multiplier 1.</summary>
    public double LearningRate { get; set; } = 1e-5;

    /// <summary>Epochs when n_epochs is "auto".</summary>
    public int DefaultEpochs { get; set; } = 3;

    /// <summary>Largest n_epochs a job may ask for.</summary>
    public int MaxEpochs { get; set; } = 50;

    /// <summary>How many of a succeeded job's last epochs stay callable as checkpoint models (OpenAI keeps 3); earlier ones are dropped.</summary>
    public int KeptCheckpoints { get; set; } = 3;

    /// <summary>The problems with these settings, each naming its key.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (MaxFileBytes is < 1024 or > (64L << 30))
        {
            errors.Add($"{Section}:MaxFileBytes must be between 1024 and 68719476736, not {MaxFileBytes}");
        }

        if (MaxExamples is < 1 or > 100_000_000)
        {
            errors.Add($"{Section}:MaxExamples must be between 1 and 100000000, not {MaxExamples}");
        }

        if (MaxMultipartFields is < 2 or > 1000)
        {
            errors.Add($"{Section}:MaxMultipartFields must be between 2 and 1000, not {MaxMultipartFields}");
        }

        if (MaxMultipartFieldBytes is < 64 or > (1 << 20))
        {
            errors.Add($"{Section}:MaxMultipartFieldBytes must be between 64 and 1048576, not {MaxMultipartFieldBytes}");
        }

        if (Window is < 256 or > 131_072 || Window % 256 != 0)
        {
            errors.Add($"{Section}:Window must be a multiple of 256 between 256 and 131072, not {Window}");
        }

        if (Threads is < 1 or > 1024)
        {
            errors.Add($"{Section}:Threads must be between 1 and 1024, not {Threads}");
        }

        if (!(LearningRate is > 0 and <= 1))
        {
            errors.Add($"{Section}:LearningRate must be above 0 and at most 1, not {LearningRate}");
        }

        if (MaxEpochs is < 1 or > 1000)
        {
            errors.Add($"{Section}:MaxEpochs must be between 1 and 1000, not {MaxEpochs}");
        }

        if (DefaultEpochs < 1 || DefaultEpochs > MaxEpochs)
        {
            errors.Add($"{Section}:DefaultEpochs must be between 1 and MaxEpochs ({MaxEpochs}), not {DefaultEpochs}");
        }

        if (KeptCheckpoints is < 1 or > 1000)
        {
            errors.Add($"{Section}:KeptCheckpoints must be between 1 and 1000, not {KeptCheckpoints}");
        }

        return errors;
    }
}
