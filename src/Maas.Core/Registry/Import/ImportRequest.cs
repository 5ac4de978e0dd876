namespace Maas.Core.Registry.Import;

/// <summary>What a caller asks to import: the URL, the checksum to hold it to, its file name and the version's options.</summary>
public sealed record ImportRequest(string Url, string? Sha256, string? FileName, NewVersionOptions Options);
