namespace Maas.Optimization.Onnx;

// Nodes by identity: protobuf messages compare (and hash) by value, which changes as the rewrite edits their inputs.
internal sealed class ReferenceComparer<T> : IEqualityComparer<T>
    where T : class
{
    public bool Equals(T? x, T? y) => ReferenceEquals(x, y);

    public int GetHashCode(T obj) => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(obj);
}
