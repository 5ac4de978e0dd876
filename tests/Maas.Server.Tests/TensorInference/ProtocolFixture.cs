using Maas.Core.Formats.Onnx;
using Maas.Core.TensorServing;
using Maas.Server.Tests.Support;

namespace Maas.Server.Tests.TensorInference;

/// <summary>One server (REST + gRPC) with the models the protocol tests share: an identity per datatype, a two-output model, two versions with an alias.</summary>
public sealed class ProtocolFixture : IAsyncLifetime
{
    private MaasTestServer? _server;

    public MaasTestServer Server => _server ?? throw new InvalidOperationException("not started");

    public static string IdentityModel(TensorDataType type) => "identity-" + type.Name().ToLowerInvariant();

    /// <summary>"pair": input x [batch, 3] FP32, outputs copy (x) and negated (-x).</summary>
    public static byte[] PairModel() => new OnnxModelWriter("pair")
        .Input("x", OnnxElementType.Float, "batch", 3)
        .Output("copy", OnnxElementType.Float, "batch", 3)
        .Output("negated", OnnxElementType.Float, "batch", 3)
        .Node("Identity", ["x"], ["copy"])
        .Node("Neg", ["x"], ["negated"])
        .ToBytes();

    public async Task InitializeAsync()
    {
        _server = await InferenceHost.StartAsync();
        foreach (var type in TestModels.IdentityTypes)
        {
            await Server.RegisterAsync(IdentityModel(type), TestModels.Identity(type));
        }

        await Server.RegisterAsync("counted", TestModels.Identity(TensorDataType.Int32));
        await Server.RegisterAsync("pair", PairModel());

        // versioned: v1 copies its input, v2 negates it; alias "stable" points at v1.
        await Server.RegisterAsync("versioned", TestModels.Identity(TensorDataType.FP32));
        var negate = new OnnxModelWriter("negate")
            .Input("input", OnnxElementType.Float, "batch", 3)
            .Output("output", OnnxElementType.Float, "batch", 3)
            .Node("Neg", ["input"], ["output"])
            .ToBytes();
        await Server.RegisterAsync("versioned", negate);
        var alias = await Server.Client.PutAsync("/api/v1/models/versioned/aliases/stable",
            new StringContent("{\"version\": 1}", System.Text.Encoding.UTF8, "application/json"));
        alias.EnsureSuccessStatusCode();
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
