using Maas.Core.Tenancy;

namespace Maas.Core.Tests.Tenancy;

public sealed class ApiKeySecretsTests
{
    [Fact]
    public void Generated_keys_are_random_well_formed_and_prefixed()
    {
        var keys = Enumerable.Range(0, 200).Select(_ => ApiKeySecrets.Generate()).ToArray();
        Assert.Equal(keys.Length, keys.Distinct().Count());
        foreach (var key in keys)
        {
            Assert.StartsWith("maas_", key);
            Assert.Equal(5 + 43, key.Length); // 32 bytes in unpadded base64url
            Assert.True(ApiKeySecrets.IsWellFormed(key));
            Assert.Equal(key[..12], ApiKeySecrets.PrefixOf(key));
        }

        Assert.Matches("^key_[0-9a-f]{16}$", ApiKeySecrets.NewId());
    }

    [Fact]
    public void Hash_verifies_only_the_right_secret_with_its_salt()
    {
        var secret = ApiKeySecrets.Generate();
        var salt = ApiKeySecrets.NewSalt();
        var hash = ApiKeySecrets.Hash(secret, salt);
        Assert.Equal(64, hash.Length);
        Assert.DoesNotContain(secret, hash, StringComparison.Ordinal);
        Assert.True(ApiKeySecrets.Verify(secret, salt, hash));
        Assert.False(ApiKeySecrets.Verify(secret + "x", salt, hash));
        Assert.False(ApiKeySecrets.Verify(ApiKeySecrets.Generate(), salt, hash));
        Assert.False(ApiKeySecrets.Verify(secret, ApiKeySecrets.NewSalt(), hash));
        Assert.False(ApiKeySecrets.Verify(secret, salt, "not-hex"));

        // A per-key salt: the same secret stored twice has two different hashes.
        Assert.NotEqual(hash, ApiKeySecrets.Hash(secret, ApiKeySecrets.NewSalt()));
    }

    [Theory]
    [InlineData("", false)]
    [InlineData("maas_short", false)]
    [InlineData("maas_abcdefghijklmnopqrstuvwxyz", true)]
    [InlineData("my.own-admin_key.0123456789", true)]
    [InlineData("maas_abcdefghijklmnopqrst uvwxyz", false)]
    [InlineData("maas_abcdefghijklmnopqrst,uvwxyz", false)]
    [InlineData("maas_abcdefghijklmnopqrstüvwxyz", false)]
    public void Well_formed_means_length_and_characters(string secret, bool expected) =>
        Assert.Equal(expected, ApiKeySecrets.IsWellFormed(secret));

    [Fact]
    public void Overlong_secrets_are_refused_before_hashing()
    {
        Assert.True(ApiKeySecrets.IsWellFormed(new string('a', ApiKeySecrets.MaxLength)));
        Assert.False(ApiKeySecrets.IsWellFormed(new string('a', ApiKeySecrets.MaxLength + 1)));
    }

    [Fact]
    public void Digest_identifies_a_secret_without_keeping_it()
    {
        var a = ApiKeySecrets.Generate();
        Assert.Equal(ApiKeySecrets.Digest(a), ApiKeySecrets.Digest(a.AsSpan()));
        Assert.NotEqual(ApiKeySecrets.Digest(a), ApiKeySecrets.Digest(ApiKeySecrets.Generate()));
    }
}
