namespace Maas.Server.TensorInference.Transport;

/// <summary>A count of running connection threads, shared by a factory's listeners.</summary>
internal sealed class ConnectionThreadCount
{
    private int _value;

    public int Value => Volatile.Read(ref _value);

    public void Started() => Interlocked.Increment(ref _value);

    public void Ended() => Interlocked.Decrement(ref _value);
}
