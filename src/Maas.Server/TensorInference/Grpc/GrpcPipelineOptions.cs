namespace Maas.Server.TensorInference.Grpc;

/// <summary>
/// Middleware for the gRPC listener, which is a separate Kestrel host and so does not run the main app's pipeline:
/// features add steps here (e.g. authentication) with
/// <c>services.Configure&lt;GrpcPipelineOptions&gt;(o =&gt; o.Use((app, services) =&gt; app.UseX(services)))</c>.
/// </summary>
public sealed class GrpcPipelineOptions
{
    private readonly List<Action<IApplicationBuilder, IServiceProvider>> _steps = [];

    /// <summary>The steps, in the order they run before the service handles the call.</summary>
    public IReadOnlyList<Action<IApplicationBuilder, IServiceProvider>> Steps => _steps;

    /// <summary>Adds a step; it receives the gRPC app and the main app's services.</summary>
    public GrpcPipelineOptions Use(Action<IApplicationBuilder, IServiceProvider> step)
    {
        _steps.Add(step);
        return this;
    }
}
