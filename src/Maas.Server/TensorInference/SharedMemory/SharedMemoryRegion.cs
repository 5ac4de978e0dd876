using Microsoft.Win32.SafeHandles;

namespace Maas.Server.TensorInference.SharedMemory;

/// <summary>
/// A registered system shared-memory region: a window (<see cref="Offset"/>, <see cref="ByteSize"/>) of a POSIX
/// shared-memory object the client created, opened by its file under the shared-memory directory.
/// </summary>
/// <remarks>
/// Tensors are copied in and out with positioned reads and writes on the object's file descriptor rather than
/// through a mapping: a client that shrinks its object after registering would make a mapped read fault (SIGBUS, the
/// whole server), while a read past the end only comes back short. The handle's reference count keeps the descriptor
/// open for a copy already under way when the region is unregistered.
/// </remarks>
internal sealed class SharedMemoryRegion : IDisposable
{
    private readonly SafeFileHandle _file;

    public SharedMemoryRegion(string tenant, string name, string key, long offset, long byteSize, SafeFileHandle file)
    {
        Tenant = tenant;
        Name = name;
        Key = key;
        Offset = offset;
        ByteSize = byteSize;
        _file = file;
    }

    /// <summary>The tenant whose calls may use the region (region names are per tenant).</summary>
    public string Tenant { get; }

    /// <summary>The name calls use in their "shared_memory_region" parameter.</summary>
    public string Name { get; }

    /// <summary>The shared-memory object's key, as given to shm_open ("/name").</summary>
    public string Key { get; }

    /// <summary>Where the region starts in the object.</summary>
    public long Offset { get; }

    /// <summary>The region's size in bytes.</summary>
    public long ByteSize { get; }

    /// <summary>Copies <paramref name="destination"/>.Length bytes from <paramref name="offset"/> in the region.</summary>
    public void Read(long offset, Span<byte> destination, string what)
    {
        var done = 0;
        try
        {
            while (done < destination.Length)
            {
                var n = RandomAccess.Read(_file, destination[done..], Offset + offset + done);
                if (n == 0)
                {
                    throw InferenceErrors.Invalid(
                        $"{what}: shared memory region '{Name}' (key '{Key}') ends after {done} of {destination.Length} bytes; the object is shorter than when it was registered");
                }

                done += n;
            }
        }
        catch (ObjectDisposedException)
        {
            throw Unregistered(what);
        }
    }

    /// <summary>Copies <paramref name="source"/> to <paramref name="offset"/> in the region.</summary>
    public void Write(long offset, ReadOnlySpan<byte> source, string what)
    {
        try
        {
            RandomAccess.Write(_file, source, Offset + offset);
        }
        catch (ObjectDisposedException)
        {
            throw Unregistered(what);
        }
    }

    /// <summary>Closes the object (a copy under way finishes first).</summary>
    public void Dispose() => _file.Dispose();

    private Maas.Core.TensorServing.InferenceException Unregistered(string what) =>
        InferenceErrors.Invalid($"{what}: shared memory region '{Name}' was unregistered during the call");
}
