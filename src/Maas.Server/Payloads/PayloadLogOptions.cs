using System.ComponentModel.DataAnnotations;

namespace Maas.Server.Payloads;

/// <summary>Payload log settings, bound from "Maas:Logging".</summary>
public sealed class PayloadLogOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string Section = "Maas:Logging";

    /// <summary>The longest payload entry, in characters; longer ones are cut and say their full length.</summary>
    [Range(256, 100_000_000)]
    public int PayloadMaxChars { get; set; } = 16_384;
}
