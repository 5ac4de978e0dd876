using System.Net;
using Maas.Core.TensorServing;

namespace Maas.Server.Tests.TensorInference;

/// <summary>
/// JSON numbers for FP16 and BF16 inputs that round past the type's range were infinities the caller never sent: a 400
/// naming the input, the element and the range (on /v2 and /predict). Underflow to zero or a subnormal is kept, as numpy
/// does; infinities are asked for by name.
/// </summary>
public sealed class HalfPrecisionRangeTests(SmallLimitsFixture fixture) : IClassFixture<SmallLimitsFixture>
{
    private async Task<string> ModelAsync(TensorDataType type)
    {
        var name = "range-" + type.Name().ToLowerInvariant();
        await fixture.Server.RegisterAsync(name, TestModels.Identity(type));
        return name;
    }

    private static string Body(TensorDataType type, string data) =>
        $$$"""{"inputs":[{"name":"input","shape":[1,3],"datatype":"{{{type.Name()}}}","data":{{{data}}}}]}""";

    [Theory]
    [InlineData(TensorDataType.FP16, "[70000,1,2]", "element 0 is 70000", "range of FP16 (±65504")]
    [InlineData(TensorDataType.FP16, "[1,-65520,2]", "element 1 is -65520", "range of FP16 (±65504")]
    [InlineData(TensorDataType.BF16, "[1,2,1e39]", "element 2 is 1e39", "range of BF16 (±3.3895314E+38")]
    [InlineData(TensorDataType.BF16, "[3.4e38,1,2]", "element 0 is 3.4e38", "range of BF16 (±3.3895314E+38")]
    public async Task A_value_past_the_range_gets_400_naming_the_input_and_value(TensorDataType type, string data, string element, string range)
    {
        var model = await ModelAsync(type);
        var (status, error, _) = await fixture.Server.Client.PostJsonAsync($"/v2/models/{model}/infer", Body(type, data));
        Assert.True(status == HttpStatusCode.BadRequest, $"{(int)status} {error}");
        var message = error.GetProperty("error").GetString()!;
        Assert.Contains($"input 'input': {element}", message);
        Assert.Contains(range, message);

        // /predict reads its JSON the same way and answers in its own error format.
        var (predictStatus, predictError, _) = await fixture.Server.Client.PostJsonAsync(
            $"/api/v1/models/{model}/predict", $$$"""{"inputs":{"input":[{{{data}}}]}}""");
        Assert.True(predictStatus == HttpStatusCode.BadRequest, $"{(int)predictStatus} {predictError}");
        Assert.Equal("invalid_input", predictError.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains(range, predictError.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Underflow_the_largest_value_as_rounded_and_infinities_by_name_are_taken()
    {
        var fp16 = await ModelAsync(TensorDataType.FP16);
        var (status, ok, _) = await fixture.Server.Client.PostJsonAsync($"/v2/models/{fp16}/infer", Body(TensorDataType.FP16, "[1e-8,1e-6,65519]"));
        Assert.True(status == HttpStatusCode.OK, $"{(int)status} {ok}");
        var data = ok.GetProperty("outputs")[0].GetProperty("data");
        Assert.Equal(0f, data[0].GetSingle()); // below the smallest subnormal: zero
        Assert.Equal((float)(Half)1e-6, data[1].GetSingle()); // a subnormal
        Assert.Equal(65504f, data[2].GetSingle()); // rounds down to the largest finite value, not up to infinity

        (status, ok, _) = await fixture.Server.Client.PostJsonAsync($"/v2/models/{fp16}/infer", Body(TensorDataType.FP16, "[\"Infinity\",\"-Infinity\",1]"));
        Assert.True(status == HttpStatusCode.OK, $"{(int)status} {ok}");
        Assert.Equal("Infinity", ok.GetProperty("outputs")[0].GetProperty("data")[0].GetString());

        var bf16 = await ModelAsync(TensorDataType.BF16);
        (status, ok, _) = await fixture.Server.Client.PostJsonAsync($"/v2/models/{bf16}/infer", Body(TensorDataType.BF16, "[1e-45,1e-39,3.3895313e38]"));
        Assert.True(status == HttpStatusCode.OK, $"{(int)status} {ok}");
        data = ok.GetProperty("outputs")[0].GetProperty("data");
        Assert.True(data[0].GetSingle() >= 0 && data[0].GetSingle() < 1e-38f);
        Assert.True(data[1].GetSingle() is > 0 and < 1.2e-38f); // a subnormal
        Assert.Equal(3.3895314E+38f, data[2].GetSingle());
    }
}
