using Maas.Runtimes.Onnx;

namespace Maas.Optimization.FineTuning;

/// <summary>The test rows of an evaluation, the label each should get, and how a batch of them becomes the model's inputs.</summary>
/// <param name="Test">The table rows accuracy is measured on, in table order.</param>
/// <param name="Expected">Per table row, the label key it should get (null: unlabelled or not usable).</param>
/// <param name="Skipped">Labelled rows that take no part (a missing feature, an unreadable picture, a class the model does not know).</param>
/// <param name="Inputs">The named input tensors of a batch of table rows (the caller disposes them).</param>
/// <param name="InputNames">The inputs <paramref name="Inputs"/> makes, in the order it makes them.</param>
public sealed record EvaluationData(int[] Test, string?[] Expected, int Skipped, Func<IReadOnlyList<int>, OnnxTensor[]> Inputs, IReadOnlyList<string> InputNames);
