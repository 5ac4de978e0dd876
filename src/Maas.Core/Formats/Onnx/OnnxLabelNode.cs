namespace Maas.Core.Formats.Onnx;

/// <summary>
/// A main-graph node that bears on class labels, as <see cref="OnnxModelScanner"/> keeps it: an ONNX-ML classifier
/// or <c>ZipMap</c> with the labels it names, or an op its scores pass through with their width unchanged.
/// </summary>
/// <param name="OpType">The operator.</param>
/// <param name="Input">Its first input (the scores a <c>ZipMap</c> or a pass-through op reads).</param>
/// <param name="Outputs">Its outputs (a classifier's scores are the second).</param>
/// <param name="Labels">The classes a classifier or <c>ZipMap</c> names, in score order; null when it names none usable.</param>
/// <param name="IntegerLabels">Whether the labels were given as integers (written here in decimal).</param>
internal sealed record OnnxLabelNode(string OpType, string Input, IReadOnlyList<string> Outputs, IReadOnlyList<string>? Labels, bool IntegerLabels = false);
