namespace Maas.Core.Registry;

/// <summary>An async lock per string key; entries exist only while someone holds or waits for them.</summary>
public sealed class KeyedLock
{
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    /// <summary>Waits for the key's lock; dispose the result to release it.</summary>
    public async Task<IDisposable> AcquireAsync(string key, CancellationToken cancellationToken)
    {
        var entry = Enter(key);
        try
        {
            await entry.Semaphore.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Leave(key, entry, release: false);
            throw;
        }

        return new Releaser(this, key, entry);
    }

    /// <summary>Takes the key's lock only if it is free at once; null when someone holds it.</summary>
    public IDisposable? TryAcquire(string key)
    {
        var entry = Enter(key);
        if (entry.Semaphore.Wait(0))
        {
            return new Releaser(this, key, entry);
        }

        Leave(key, entry, release: false);
        return null;
    }

    private Entry Enter(string key)
    {
        lock (_entries)
        {
            if (!_entries.TryGetValue(key, out var entry))
            {
                entry = new Entry();
                _entries[key] = entry;
            }

            entry.Users++;
            return entry;
        }
    }

    private void Leave(string key, Entry entry, bool release)
    {
        lock (_entries)
        {
            if (release)
            {
                entry.Semaphore.Release();
            }

            if (--entry.Users == 0)
            {
                _entries.Remove(key);
                entry.Semaphore.Dispose();
            }
        }
    }

    private sealed class Entry
    {
        public SemaphoreSlim Semaphore { get; } = new(1, 1);

        public int Users { get; set; }
    }

    private sealed class Releaser(KeyedLock owner, string key, Entry entry) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                owner.Leave(key, entry, release: true);
            }
        }
    }
}
