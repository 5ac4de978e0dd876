using System.Globalization;
using System.Text;
using Maas.Core.Datasets;
using Maas.Core.Training;

namespace Maas.Training;

/// <summary>
/// Turns a dataset table into what the tabular trainers read: features as numbers or categories, the label as a
/// regression value, a boolean (binary) or a class index (multiclass), and the stratified, seeded split.
/// </summary>
internal sealed class TabularData
{
    private TabularData(TrainingSpec spec, DatasetTable table, int labelIndex, int[] featureIndexes, IReadOnlyList<string>? classes, bool numericLabel)
    {
        Spec = spec;
        Table = table;
        LabelIndex = labelIndex;
        FeatureIndexes = featureIndexes;
        Classes = classes;
        NumericLabel = numericLabel;
    }

    public TrainingSpec Spec { get; }

    public DatasetTable Table { get; }

    public int LabelIndex { get; }

    public int[] FeatureIndexes { get; }

    /// <summary>Class labels in index order (classification); numbers sort as numbers.</summary>
    public IReadOnlyList<string>? Classes { get; }

    public bool NumericLabel { get; }

    /// <summary>Checks the table against the spec (columns present, labels usable) and collects the classes.</summary>
    public static TabularData From(TrainingSpec spec, DatasetTable table)
    {
        var label = table.IndexOf(spec.Label);
        if (label < 0)
        {
            throw new Maas.Core.Jobs.JobFailedException("invalid_spec", $"the dataset has no label column '{spec.Label}'");
        }

        var features = spec.Features.Select(
            f => table.IndexOf(f.Name) is >= 0 and var i ? i : throw new Maas.Core.Jobs.JobFailedException("invalid_spec", $"the dataset has no column '{f.Name}'")).ToArray();
        var labelType = table.Columns[label].Type;
        IReadOnlyList<string>? classes = null;
        if (spec.Task != TrainingNames.Regression)
        {
            classes = table.Rows.Where(r => r[label] is not null).Select(r => DatasetStatisticsCalculator.Key(r[label]!)).Distinct()
                .Order(DatasetStatisticsCalculator.ClassOrder(labelType)).ToArray();
            if (classes.Count < 2 || (spec.Task == TrainingNames.Binary && classes.Count != 2))
            {
                throw new Maas.Core.Jobs.JobFailedException("invalid_spec",
                    $"{spec.Task} needs {(spec.Task == TrainingNames.Binary ? "exactly 2" : "at least 2")} classes in '{spec.Label}', which has {classes.Count}");
            }
        }
        else if (labelType != DatasetColumnType.Number)
        {
            throw new Maas.Core.Jobs.JobFailedException("invalid_spec", $"regression needs a numeric label; '{spec.Label}' is {labelType.ToString().ToLowerInvariant()}");
        }

        return new TabularData(spec, table, label, features, classes, labelType == DatasetColumnType.Number);
    }

    /// <summary>Rows with a label, split into train, validation and test by the spec's fractions and seed.</summary>
    public (int[] Train, int[] Validation, int[] Test) Split()
    {
        var random = new Random(Spec.Split.Seed);
        var labelled = Enumerable.Range(0, Table.Rows.Count).Where(r => Table.Rows[r][LabelIndex] is not null).ToArray();
        // Classification keeps each class's share in every split (stratified); regression shuffles all rows.
        var groups = Classes is null
            ? [labelled]
            : labelled.GroupBy(r => DatasetStatisticsCalculator.Key(Table.Rows[r][LabelIndex]!)).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => g.ToArray()).ToArray();
        List<int> train = [], validation = [], test = [];
        foreach (var group in groups)
        {
            random.Shuffle(group);
            var (nValidation, nTest) = Spec.Split.Counts(group.Length);
            test.AddRange(group.Take(nTest));
            validation.AddRange(group.Skip(nTest).Take(nValidation));
            train.AddRange(group.Skip(nTest + nValidation));
        }

        return ([.. train.Order()], [.. validation.Order()], [.. test.Order()]);
    }

    /// <summary>The label of a row as the trainer reads it: the value, true/false, or the class index.</summary>
    public string LabelText(int row)
    {
        var value = Table.Rows[row][LabelIndex]!;
        if (Classes is null)
        {
            return ((double)value).ToString("R", CultureInfo.InvariantCulture);
        }

        var index = IndexOfClass(value);
        return Spec.Task == TrainingNames.Binary ? (index == 1 ? "true" : "false") : index.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>The class index of a label value.</summary>
    public int IndexOfClass(object value)
    {
        var key = DatasetStatisticsCalculator.Key(value);
        for (var i = 0; i < Classes!.Count; i++)
        {
            if (Classes[i] == key)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>
    /// Writes rows as a quoted TSV: features in spec order, then (unless <paramref name="withLabel"/> is false) the label;
    /// a large table is written in blocks of rows, <paramref name="cancellationToken"/> checked before each.
    /// </summary>
    public string Write(string path, IReadOnlyList<int> rows, bool withLabel = true, CancellationToken cancellationToken = default)
    {
        using var writer = new StreamWriter(path, false, new UTF8Encoding(false));
        var line = new StringBuilder();
        for (var i = 0; i < rows.Count; i++)
        {
            if (i % 4096 == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }

            var r = rows[i];
            line.Clear();
            var row = Table.Rows[r];
            for (var f = 0; f < FeatureIndexes.Length; f++)
            {
                if (f > 0)
                {
                    line.Append('\t');
                }

                line.Append(Cell(row[FeatureIndexes[f]], Spec.Features[f].Type));
            }

            if (withLabel)
            {
                line.Append('\t').Append(LabelText(r));
            }

            writer.Write(line.Append('\n'));
        }

        return path;
    }

    /// <summary>A feature cell: numbers (booleans as 0/1; missing empty, read as NaN), categories quoted.</summary>
    public static string Cell(object? value, string type) => type == TabularFeature.Number
        ? value switch
        {
            double d => d.ToString("R", CultureInfo.InvariantCulture),
            bool b => b ? "1" : "0",
            string s when double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => d.ToString("R", CultureInfo.InvariantCulture),
            _ => "",
        }
        : "\"" + CategoryText(value).Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>The text of a categorical value (missing is the empty string).</summary>
    public static string CategoryText(object? value) => value is null ? "" : DatasetStatisticsCalculator.Key(value);
}
