namespace Maas.Core.Tenancy;

/// <summary>A SHA-256 of a presented secret as four words: a cheap, allocation-free dictionary key.</summary>
public readonly record struct KeyDigest(ulong A, ulong B, ulong C, ulong D);
