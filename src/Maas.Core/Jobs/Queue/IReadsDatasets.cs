using Maas.Core.Training;

namespace Maas.Core.Jobs.Queue;

/// <summary>
/// A job handler whose jobs read dataset versions (training, its trials, evaluation, optimisation with a calibration or
/// evaluation dataset): a dataset version an unfinished job of its kind reads is not deleted (<see cref="Datasets.DatasetJobUses"/>).
/// </summary>
public interface IReadsDatasets
{
    /// <summary>The kind of job whose specs <see cref="DatasetsOf"/> reads.</summary>
    string Kind { get; }

    /// <summary>The dataset versions the job of <paramref name="spec"/> reads; none when the spec names none.</summary>
    IEnumerable<DatasetReference> DatasetsOf(string spec);
}
