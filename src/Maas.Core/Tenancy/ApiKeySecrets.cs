using System.Buffers;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Maas.Core.Tenancy;

/// <summary>Making, recognising and hashing API key secrets.</summary>
/// <remarks>
/// A generated secret is <c>maas_</c> and 32 random bytes in base64url (256 bits of entropy). Because it is random,
/// a slow password hash buys nothing: the stored form is HMAC-SHA256 keyed with a per-key random salt, which a
/// leaked database cannot reverse and a cache can recompute in a microsecond. The database finds candidates by the
/// visible prefix and the hash is compared in constant time.
/// </remarks>
public static class ApiKeySecrets
{
    /// <summary>What every generated secret starts with (so secret scanners and people can recognise one).</summary>
    public const string Marker = "maas_";

    /// <summary>How many leading characters are kept as the visible prefix.</summary>
    public const int PrefixLength = 12;

    /// <summary>The shortest secret accepted (a MAAS_ADMIN_KEY chosen by an operator must be at least this long).</summary>
    public const int MinLength = 24;

    /// <summary>The longest secret accepted; anything longer is refused before it is hashed.</summary>
    public const int MaxLength = 256;

    private const int SecretBytes = 32;
    private const int SaltBytes = 16;

    /// <summary>A new random secret.</summary>
    public static string Generate()
    {
        Span<byte> random = stackalloc byte[SecretBytes];
        RandomNumberGenerator.Fill(random);
        return Marker + Base64Url.EncodeToString(random);
    }

    /// <summary>A new key id: "key_" and 16 random hex digits.</summary>
    public static string NewId()
    {
        Span<byte> random = stackalloc byte[8];
        RandomNumberGenerator.Fill(random);
        return "key_" + Convert.ToHexStringLower(random);
    }

    /// <summary>True when <paramref name="secret"/> has the shape of a key: 24 to 256 characters from A-Z a-z 0-9 - _ .</summary>
    /// <remarks>Checked before any lookup, so garbage never reaches the database or the hash.</remarks>
    public static bool IsWellFormed(ReadOnlySpan<char> secret)
    {
        if (secret.Length is < MinLength or > MaxLength)
        {
            return false;
        }

        foreach (var c in secret)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not '-' and not '_' and not '.')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The visible prefix of a well-formed secret.</summary>
    public static string PrefixOf(string secret) => secret[..PrefixLength];

    /// <summary>A new random salt (hex).</summary>
    public static string NewSalt() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(SaltBytes));

    /// <summary>The stored hash of <paramref name="secret"/> with <paramref name="saltHex"/> (hex).</summary>
    public static string Hash(string secret, string saltHex) => Convert.ToHexStringLower(HashBytes(secret, saltHex));

    /// <summary>True when <paramref name="secret"/> matches the stored salt and hash; constant time in the hash.</summary>
    public static bool Verify(string secret, string saltHex, string hashHex)
    {
        Span<byte> expected = stackalloc byte[32];
        if (hashHex.Length != 64 || Convert.FromHexString(hashHex, expected, out _, out var written) != OperationStatus.Done || written != 32)
        {
            return false;
        }

        return CryptographicOperations.FixedTimeEquals(HashBytes(secret, saltHex), expected);
    }

    private static byte[] HashBytes(string secret, string saltHex)
    {
        var salt = Convert.FromHexString(saltHex);
        var bytes = Encoding.UTF8.GetBytes(secret);
        try
        {
            return HMACSHA256.HashData(salt, bytes);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
        }
    }

    /// <summary>An in-memory fingerprint of a presented secret for cache lookups (SHA-256; never stored or logged).</summary>
    public static KeyDigest Digest(ReadOnlySpan<char> secret)
    {
        Span<byte> utf8 = stackalloc byte[MaxLength];
        var length = Encoding.UTF8.GetBytes(secret, utf8);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(utf8[..length], hash);
        utf8[..length].Clear();
        return new KeyDigest(
            BitConverter.ToUInt64(hash),
            BitConverter.ToUInt64(hash[8..]),
            BitConverter.ToUInt64(hash[16..]),
            BitConverter.ToUInt64(hash[24..]));
    }
}
