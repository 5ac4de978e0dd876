using System.Collections.Concurrent;
using Maas.Core.TensorServing;
using Microsoft.Extensions.Options;

namespace Maas.Server.TensorInference.SharedMemory;

/// <summary>
/// The system shared-memory regions clients registered (Triton's system shared memory extension), per tenant: a
/// tenant's calls see only the regions its own keys registered, and two tenants may use the same region name.
/// </summary>
/// <remarks>
/// Off unless <see cref="InferenceOptions.AllowClientSharedMemory"/>: a region lets a caller have the server read and
/// write a file under <see cref="InferenceOptions.SharedMemoryDirectory"/>, so it is for clients on the server's own
/// host that are trusted with the objects the server's user can open.
/// </remarks>
internal sealed class SystemSharedMemoryRegistry : IDisposable
{
    /// <summary>The extension's name in the server metadata, listed while it is on.</summary>
    public const string ExtensionName = "system_shared_memory";

    private const int MaxNameLength = 256;
    private readonly ConcurrentDictionary<(string Tenant, string Name), SharedMemoryRegion> _regions = new();
    private readonly Lock _registering = new();
    private readonly InferenceOptions _options;

    public SystemSharedMemoryRegistry(IOptions<InferenceOptions> options)
    {
        _options = options.Value;
    }

    /// <summary>Whether clients may register regions on this server.</summary>
    public bool Enabled => _options.AllowClientSharedMemory;

    /// <summary>The refusal when the extension is off.</summary>
    public static InferenceException Disabled() => InferenceErrors.Invalid(
        "system shared memory is off on this server; an operator turns it on with Maas:Inference:AllowClientSharedMemory=true");

    /// <summary>Registers <paramref name="name"/> for <paramref name="tenant"/> over <paramref name="key"/>'s object.</summary>
    public void Register(string tenant, string name, string key, long offset, long byteSize)
    {
        if (!Enabled)
        {
            throw Disabled();
        }

        CheckName(name);
        var path = PathOf(key);
        if (offset < 0 || byteSize <= 0)
        {
            throw InferenceErrors.Invalid($"shared memory region '{name}': offset must be non-negative and byte_size positive (offset {offset}, byte_size {byteSize})");
        }

        lock (_registering)
        {
            if (_regions.ContainsKey((tenant, name)))
            {
                throw InferenceErrors.Invalid($"shared memory region '{name}' is already registered; unregister it first");
            }

            var limit = _options.MaxSharedMemoryRegionsPerTenant;
            if (_regions.Keys.Count(k => k.Tenant == tenant) >= limit)
            {
                throw new InferenceException(InferenceErrorKind.InvalidInput,
                    $"this tenant has {limit} shared memory regions registered, the limit (Maas:Inference:MaxSharedMemoryRegionsPerTenant); unregister one first")
                {
                    LimitName = "max_shared_memory_regions_per_tenant",
                    Limit = limit,
                };
            }

            var file = Open(name, key, path);
            try
            {
                var length = RandomAccess.GetLength(file);
                if (offset > length || byteSize > length - offset)
                {
                    throw InferenceErrors.Invalid(
                        $"shared memory region '{name}': offset {offset} + byte_size {byteSize} is past the end of '{key}' ({length} bytes)");
                }

                _regions[(tenant, name)] = new SharedMemoryRegion(tenant, name, key, offset, byteSize, file);
            }
            catch
            {
                file.Dispose();
                throw;
            }
        }
    }

    /// <summary>Unregisters one region of <paramref name="tenant"/>, or all of them when <paramref name="name"/> is null; an unknown name is no error.</summary>
    public void Unregister(string tenant, string? name)
    {
        if (!Enabled)
        {
            throw Disabled();
        }

        foreach (var key in _regions.Keys.Where(k => k.Tenant == tenant && (name is null || k.Name == name)))
        {
            if (_regions.TryRemove(key, out var region))
            {
                region.Dispose();
            }
        }
    }

    /// <summary>The tenant's regions (one, when <paramref name="name"/> is given, which must exist), by name.</summary>
    public IReadOnlyList<SharedMemoryRegion> Status(string tenant, string? name)
    {
        if (!Enabled)
        {
            throw Disabled();
        }

        return name is null
            ? [.. _regions.Values.Where(r => r.Tenant == tenant).OrderBy(r => r.Name, StringComparer.Ordinal)]
            : [Find(tenant, name, "status")];
    }

    /// <summary>The tenant's region <paramref name="name"/>; refused (400) when there is none.</summary>
    public SharedMemoryRegion Find(string tenant, string name, string owner)
    {
        if (!Enabled)
        {
            throw Disabled();
        }

        return _regions.TryGetValue((tenant, name), out var region)
            ? region
            : throw InferenceErrors.Invalid($"{owner}: no shared memory region '{name}' is registered");
    }

    /// <summary>Closes every region.</summary>
    public void Dispose()
    {
        foreach (var region in _regions.Values)
        {
            region.Dispose();
        }

        _regions.Clear();
    }

    private static void CheckName(string name)
    {
        if (name.Length is 0 or > MaxNameLength || name.Any(char.IsControl))
        {
            throw InferenceErrors.Invalid($"a shared memory region's name must be 1 to {MaxNameLength} characters without control characters");
        }
    }

    // A POSIX shared-memory key is "/name": one component, which lives as a file in the shared-memory directory.
    private string PathOf(string key)
    {
        var component = key.StartsWith('/') ? key[1..] : key;
        if (component.Length is 0 or > 255 || component is "." or ".." || component.Any(c => c == '/' || c == '\\' || char.IsControl(c)))
        {
            throw InferenceErrors.Invalid($"shared memory key '{key}' is not a POSIX shared memory object name (\"/name\", one component of at most 255 characters)");
        }

        return Path.Combine(_options.SharedMemoryDirectory, component);
    }

    private static Microsoft.Win32.SafeHandles.SafeFileHandle Open(string name, string key, string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw InferenceErrors.Invalid($"shared memory region '{name}': no shared memory object '{key}' exists (create it with shm_open before registering)");
        }

        if (info.LinkTarget is not null)
        {
            throw InferenceErrors.Invalid($"shared memory region '{name}': '{key}' is a symbolic link, not a shared memory object");
        }

        try
        {
            return File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (Exception ex) when (ex is UnauthorizedAccessException or IOException)
        {
            throw InferenceErrors.Invalid($"shared memory region '{name}': the server cannot open '{key}' for reading and writing ({ex.Message})");
        }
    }
}
