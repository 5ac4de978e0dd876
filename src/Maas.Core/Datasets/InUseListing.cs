using Maas.Core.Registry;

namespace Maas.Core.Datasets;

/// <summary>
/// How a <c>dataset_in_use</c> refusal lists what keeps a dataset: what the caller may see by name (five of them, then how
/// many more), and what it may not (another tenant's jobs or private models) only as a number, so a refusal never tells
/// one tenant the names of another's.
/// </summary>
internal static class InUseListing
{
    /// <summary>
    /// "a, b and 2 more", "a, plus 1 other model version this key may not see", or "2 unfinished jobs this key may not
    /// see" (<paramref name="one"/> and <paramref name="many"/> name what the unnamed are).
    /// </summary>
    public static string Of(IReadOnlyList<string> named, int unlisted, string one, string many)
    {
        var noun = unlisted == 1 ? one : many;
        if (named.Count == 0)
        {
            return $"{unlisted} {noun} this key may not see";
        }

        var shown = RegistryNames.FirstOf(named, 5);
        return unlisted == 0 ? shown : $"{shown}, plus {unlisted} other {noun} this key may not see";
    }
}
