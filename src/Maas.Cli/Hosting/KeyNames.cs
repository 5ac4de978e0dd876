using Maas.Client;

namespace Maas.Cli.Hosting;

/// <summary>
/// Who did something, as people know them: the API records the id of the key that acted (a version's
/// <c>created_by</c>, a deployment change's actor); tables show the key's name instead, as the console does. An admin
/// key reads every key's name; any other key knows only its own, and sees the others' ids. <c>--json</c> keeps the ids.
/// </summary>
public sealed class KeyNames
{
    /// <summary>No names: every actor as recorded (what <c>--json</c> output uses).</summary>
    public static readonly KeyNames None = new(new Dictionary<string, string>(StringComparer.Ordinal));

    private readonly Dictionary<string, string> _names;
    private readonly HashSet<string> _shared;

    private KeyNames(Dictionary<string, string> names)
    {
        _names = names;
        _shared = names.Values.GroupBy(n => n, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>The names this client's key may read; none when the server does not say (the ids are shown then).</summary>
    public static async Task<KeyNames> ReadAsync(MaasClient client, CancellationToken cancellationToken)
    {
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            var me = await client.MeAsync(cancellationToken);
            if (me.Scopes.Contains("admin", StringComparer.Ordinal))
            {
                foreach (var key in (await client.ListKeysAsync(includeRevoked: true, cancellationToken: cancellationToken)).Keys)
                {
                    names[key.Id] = key.Name;
                }
            }

            if (me.KeyName is { } own)
            {
                names[me.KeyId] = own;
            }
        }
        catch (MaasApiException)
        {
            // A server without keys, or a key that may not ask: the recorded ids are what there is to show.
        }

        return new KeyNames(names);
    }

    /// <summary>
    /// The name of the key <paramref name="actor"/>; with its id beside it when another key has the same name; the
    /// actor as recorded when it is not a key this client knows ("system", another tenant's key).
    /// </summary>
    public string? Of(string? actor) => actor is null || !_names.TryGetValue(actor, out var name) ? actor
        : _shared.Contains(name) ? $"{name} ({actor})" : name;
}
