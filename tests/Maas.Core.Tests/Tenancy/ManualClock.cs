namespace Maas.Core.Tests.Tenancy;

/// <summary>A clock the test moves by hand (rate windows and calendar budgets without waiting).</summary>
internal sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = start;

    public override DateTimeOffset GetUtcNow() => Now;

    public void Advance(TimeSpan by) => Now += by;
}
