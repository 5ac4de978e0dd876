namespace Maas.Core.Hosting;

/// <summary>A request's hold on a loaded model: the model is not unloaded while any lease is out.</summary>
public sealed class ModelLease : IDisposable
{
    private readonly ModelHost _host;
    private readonly ModelHost.Instance _instance;
    private int _disposed;

    internal ModelLease(ModelHost host, ModelHost.Instance instance)
    {
        _host = host;
        _instance = instance;
    }

    /// <summary>The loaded model.</summary>
    public IHostedModel Model => _instance.Model;

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _host.Release(_instance);
        }
    }
}
