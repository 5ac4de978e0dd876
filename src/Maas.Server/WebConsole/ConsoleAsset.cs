namespace Maas.Server.WebConsole;

/// <summary>One built console file held in memory: its bytes, media type, ETag and whether its name carries a content hash.</summary>
public sealed record ConsoleAsset(string Path, byte[] Content, string ContentType, string ETag, bool Immutable);
