using System.ComponentModel.DataAnnotations;

namespace Maas.Server.Auth;

/// <summary>Authentication settings, bound from "Maas:Auth" (MAAS_ADMIN_KEY sets <see cref="AdminKey"/>).</summary>
public sealed class AuthOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string Section = "Maas:Auth";

    /// <summary>
    /// An admin key chosen by the operator (24 to 256 characters of A-Z a-z 0-9 - _ .): created in the default tenant
    /// on start, replacing the previous one set this way. When unset, the first start generates one instead.
    /// </summary>
    public string? AdminKey { get; set; }

    /// <summary>Where the generated admin key is written (owner-only permissions); default <c>{DataDir}/admin-key</c>.</summary>
    public string? AdminKeyFile { get; set; }

    /// <summary>
    /// Local development only: requests without a key may use <c>infer</c> routes as the default tenant. Refused at
    /// start unless every listen address is loopback, and honoured only for loopback clients.
    /// </summary>
    public bool AllowAnonymousInfer { get; set; }

    /// <summary>Serve /metrics without a key (for a scraper on a trusted network); otherwise it needs an admin key.</summary>
    public bool AnonymousMetrics { get; set; }

    /// <summary>How long a looked-up key is reused before it is read again; 0 reads the database on every request.</summary>
    [Range(0.0, 86_400.0)]
    public double KeyCacheSeconds { get; set; } = 60;

    /// <summary>How long an unknown key is remembered as unknown (spares the database repeated misses).</summary>
    [Range(0.0, 3_600.0)]
    public double UnknownKeyCacheSeconds { get; set; } = 10;

    /// <summary>How long a model's owner and visibility are reused for tenant checks, in ms (changes on this node apply at once).</summary>
    [Range(0, 600_000)]
    public int ModelCacheMs { get; set; } = 1000;

    /// <summary>How often each node asks the database whether keys or tenants changed elsewhere, in ms; 0 turns it off.</summary>
    [Range(0, 3_600_000)]
    public int ChangePollMs { get; set; } = 1000;

    /// <summary>Failed authentication attempts one client address may make per <see cref="FailedAttemptWindowSeconds"/>.</summary>
    [Range(1, 1_000_000)]
    public int FailedAttemptsPerWindow { get; set; } = 30;

    /// <summary>The window of <see cref="FailedAttemptsPerWindow"/>, in seconds.</summary>
    [Range(1.0, 86_400.0)]
    public double FailedAttemptWindowSeconds { get; set; } = 60;

    /// <summary>Failed authentications with one key prefix (the first 12 characters of the presented key), from any address, per window.</summary>
    [Range(1, 1_000_000)]
    public int FailedAttemptsPerKeyPrefix { get; set; } = 10;

    /// <summary>How long a key prefix that authenticated stays usable from an address blocked for failed attempts, in hours.</summary>
    [Range(0.0, 8_760.0)]
    public double KnownKeyPrefixHours { get; set; } = 24;

    /// <summary>How often the keys of open calls (streams, uploads, generations) are checked; a revoked key's calls end within this, in ms.</summary>
    [Range(100, 60_000)]
    public int OpenCallCheckMs { get; set; } = 1000;

    /// <summary>
    /// Addresses or networks (CIDR) of reverse proxies whose <c>X-Forwarded-For</c> and <c>X-Forwarded-Proto</c> are
    /// believed; empty believes no one (a client cannot pick its own address for the failed-attempt limit or the audit log).
    /// </summary>
    public string[] TrustedProxies { get; set; } = [];
}
