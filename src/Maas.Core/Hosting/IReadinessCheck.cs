namespace Maas.Core.Hosting;

/// <summary>One condition the server must meet before /health/ready says ready (database reachable, must-load models loaded).</summary>
public interface IReadinessCheck
{
    /// <summary>A short name shown in the readiness body.</summary>
    string Name { get; }

    /// <summary>Null when ready, otherwise why not.</summary>
    Task<string?> CheckAsync(CancellationToken cancellationToken);
}
