namespace Maas.Testing;

/// <summary>
/// Waiting in tests on a condition, never on a sleep: the condition is polled until it holds or a generous ceiling
/// passes (CI machines are busy; a ceiling only bounds how long a failing test takes to say so).
/// </summary>
public static class Conditions
{
    /// <summary>How long a condition may take before the test fails.</summary>
    public static readonly TimeSpan Ceiling = TimeSpan.FromSeconds(60);

    /// <summary>Polls <paramref name="condition"/> until it holds; fails the test naming <paramref name="what"/> after the ceiling.</summary>
    public static Task WaitUntilAsync(Func<bool> condition, string what = "the condition", TimeSpan? ceiling = null) =>
        WaitUntilAsync(() => Task.FromResult(condition()), what, ceiling);

    /// <summary>Polls an asynchronous <paramref name="condition"/> until it holds; fails the test naming <paramref name="what"/> after the ceiling.</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, string what = "the condition", TimeSpan? ceiling = null) =>
        await ReadUntilAsync(condition, held => held, what, ceiling);

    /// <summary>
    /// Reads a value until <paramref name="condition"/> holds on it and returns that value; fails the test naming
    /// <paramref name="what"/> (and the last value, through <paramref name="show"/> when given) after the ceiling
    /// (<see cref="Ceiling"/> unless given).
    /// </summary>
    public static async Task<T> ReadUntilAsync<T>(Func<Task<T>> read, Func<T, bool> condition, string what, TimeSpan? ceiling = null, Func<T, string>? show = null)
    {
        var limit = ceiling ?? Ceiling;
        var waited = System.Diagnostics.Stopwatch.StartNew(); // not the wall clock, which may jump
        var pause = TimeSpan.FromMilliseconds(2);
        while (true)
        {
            var value = await read();
            if (condition(value))
            {
                return value;
            }

            if (waited.Elapsed >= limit)
            {
                Xunit.Assert.Fail($"timed out after {limit.TotalSeconds:F0} s waiting until {what}" + (show is null ? "" : ": " + show(value)));
            }

            // Quick to see a condition that is about to hold, without spinning on one that takes seconds.
            await Task.Delay(pause);
            pause = TimeSpan.FromMilliseconds(Math.Min(50, pause.TotalMilliseconds * 2));
        }
    }
}
