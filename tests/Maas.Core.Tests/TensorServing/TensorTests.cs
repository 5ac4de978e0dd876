using Maas.Core.TensorServing;

namespace Maas.Core.Tests.TensorServing;

public sealed class TensorTests
{
    [Fact]
    public void Datatype_names_round_trip_and_sizes_match_the_protocol()
    {
        foreach (var type in TensorDataTypes.All)
        {
            Assert.True(TensorDataTypes.TryParse(type.Name(), out var parsed));
            Assert.Equal(type, parsed);
        }

        Assert.False(TensorDataTypes.TryParse("FLOAT", out _));
        Assert.Equal((1, 2, 4, 8, 0), (TensorDataType.Bool.ElementSize(), TensorDataType.BF16.ElementSize(), TensorDataType.UInt32.ElementSize(),
            TensorDataType.FP64.ElementSize(), TensorDataType.Bytes.ElementSize()));
    }

    [Fact]
    public void Wrapping_checks_the_byte_length_against_the_shape()
    {
        var ex = Assert.Throws<InferenceException>(() => Tensor.Wrap("x", TensorDataType.FP32, [2, 3], new byte[20]));
        Assert.Equal(InferenceErrorKind.InvalidInput, ex.Kind);
        Assert.Contains("tensor 'x': 20 bytes of data but FP32 shape [2,3] needs 24 bytes (6 elements)", ex.Message);
        using var ok = Tensor.Wrap("x", TensorDataType.FP32, [2, 3], new byte[24]);
        Assert.Equal(6, ok.ElementCount);
    }

    [Fact]
    public void Bytes_tensors_hold_length_prefixed_elements_and_reject_broken_prefixes()
    {
        using var t = Tensor.FromStrings("s", [3], ["a", "", "héllo"]);
        Assert.Equal(["a", "", "héllo"], t.GetStrings());
        Assert.Equal(4 + 1 + 4 + 4 + 6, t.Data.Length);
        var copy = t.Data.ToArray();
        var wrapped = Tensor.Wrap("s", TensorDataType.Bytes, [3], copy);
        Assert.Equal(t.GetStrings(), wrapped.GetStrings());
        var wrongCount = Assert.Throws<InferenceException>(() => Tensor.Wrap("s", TensorDataType.Bytes, [4], copy));
        Assert.Contains("holds 3 elements but shape [4] needs 4", wrongCount.Message);
        copy[0] = 200; // the first length now runs past the end
        var truncated = Assert.Throws<InferenceException>(() => Tensor.Wrap("s", TensorDataType.Bytes, [3], copy));
        Assert.Contains("claims 200 bytes", truncated.Message);
    }

    [Fact]
    public void Negative_or_overflowing_shapes_are_invalid_input()
    {
        Assert.Contains("negative dimension", Assert.Throws<InferenceException>(() => TensorShape.ElementCount("x", [2, -1])).Message);
        Assert.Contains("more elements than can be counted", Assert.Throws<InferenceException>(() => TensorShape.ElementCount("x", [long.MaxValue, 4])).Message);
    }

    [Fact]
    public void Concatenating_and_splitting_along_the_batch_dimension_round_trips()
    {
        using var a = Tensor.FromValues("x", TensorDataType.Int16, [1, 2], new short[] { 1, 2 }.AsSpan());
        using var b = Tensor.FromValues("x", TensorDataType.Int16, [2, 2], new short[] { 3, 4, 5, 6 }.AsSpan());
        using var joined = BatchAssembler.Concatenate("x", [a, b]);
        Assert.Equal([3L, 2L], joined.Shape);
        Assert.Equal(new short[] { 1, 2, 3, 4, 5, 6 }, joined.AsSpan<short>().ToArray());
        var parts = BatchAssembler.Split(joined, [1, 2]);
        Assert.Equal(new short[] { 1, 2 }, parts[0].AsSpan<short>().ToArray());
        Assert.Equal(new short[] { 3, 4, 5, 6 }, parts[1].AsSpan<short>().ToArray());
        Assert.Equal([2L, 2L], parts[1].Shape);

        using var s1 = Tensor.FromStrings("s", [1, 2], ["a", "bb"]);
        using var s2 = Tensor.FromStrings("s", [1, 2], ["", "ccc"]);
        using var strings = BatchAssembler.Concatenate("s", [s1, s2]);
        var split = BatchAssembler.Split(strings, [1, 1]);
        Assert.Equal(["", "ccc"], split[1].GetStrings());
        var wrong = Assert.Throws<InferenceException>(() => BatchAssembler.Split(strings, [1, 2]));
        Assert.Equal(InferenceErrorKind.Internal, wrong.Kind);
    }
}
