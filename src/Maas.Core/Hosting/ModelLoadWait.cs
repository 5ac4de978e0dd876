namespace Maas.Core.Hosting;

/// <summary>How long a request waited for its model to load.</summary>
/// <param name="Key">The version it waited for.</param>
/// <param name="Engine">Its engine.</param>
/// <param name="Duration">From the start of the wait to its end.</param>
/// <param name="Outcome"><c>loaded</c>, <c>failed</c> or <c>timeout</c> (the wait limit passed).</param>
public sealed record ModelLoadWait(ModelKey Key, string Engine, TimeSpan Duration, string Outcome);
