using Maas.Core.Hosting;

namespace Maas.Server.Deployments;

/// <summary>
/// The versions a deployment change of this server is warming and has not stored yet, and the one gate that both the
/// change's start and every unload of a deployed version pass: an unload decided on the router's copy alone could
/// take a version off between a change's warm-up and its save, and the split would then send that change's calls to
/// a cold version. Under the gate a version is either claimed by a change first (and the unload leaves it loaded) or
/// its unload has already begun (and the change's warm-up loads it again).
/// </summary>
public sealed class WarmingVersions
{
    private readonly Lock _gate = new();
    private readonly Dictionary<ModelKey, int> _claims = [];

    /// <summary>Claims <paramref name="versions"/> of <paramref name="model"/> until the returned claim is disposed (after the save).</summary>
    public Claim Begin(string model, IEnumerable<int> versions)
    {
        var keys = versions.Distinct().Select(v => new ModelKey(model, v)).ToArray();
        lock (_gate)
        {
            foreach (var key in keys)
            {
                _claims[key] = _claims.GetValueOrDefault(key) + 1;
            }
        }

        return new Claim(this, keys);
    }

    /// <summary>True while a change of this server is warming the version and has not stored its result.</summary>
    public bool IsWarming(ModelKey key)
    {
        lock (_gate)
        {
            return _claims.ContainsKey(key);
        }
    }

    /// <summary>
    /// Starts an unload of <paramref name="key"/> through the gate: <paramref name="start"/> runs only while no change
    /// claims the version, and must begin the unload before it returns (its first, synchronous part). Null when a
    /// claim kept it (<paramref name="claimed"/>, as seen under the gate: the claim may end right after), or when
    /// <paramref name="start"/> decided not to.
    /// </summary>
    public Task? UnloadUnlessWarming(ModelKey key, Func<Task?> start, out bool claimed)
    {
        lock (_gate)
        {
            claimed = _claims.ContainsKey(key);
            return claimed ? null : start();
        }
    }

    private void End(ModelKey[] keys)
    {
        lock (_gate)
        {
            foreach (var key in keys)
            {
                if (_claims.GetValueOrDefault(key) <= 1)
                {
                    _claims.Remove(key);
                }
                else
                {
                    _claims[key]--;
                }
            }
        }
    }

    /// <summary>A change's claim on the versions it warms; disposing it releases them once.</summary>
    public sealed class Claim(WarmingVersions owner, ModelKey[] keys) : IDisposable
    {
        private int _ended;

        /// <summary>The versions claimed.</summary>
        public IReadOnlyList<ModelKey> Keys => keys;

        /// <inheritdoc />
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _ended, 1) == 0)
            {
                owner.End(keys);
            }
        }
    }
}
