using Maas.Core.Registry;
using Maas.Core.Tenancy;

namespace Maas.Core.Tests.Registry;

/// <summary>Model names per tenant: keys, references with an owner, and key patterns over qualified names.</summary>
public sealed class ModelNamespaceTests
{
    [Theory]
    [InlineData("faces", "faces", null, null, null)]
    [InlineData("faces:prod", "faces", "prod", null, null)]
    [InlineData("faces/versions/3", "faces", null, 3, null)]
    [InlineData("acme/faces", "acme/faces", null, null, "acme")]
    [InlineData("acme/faces:prod", "acme/faces", "prod", null, "acme")]
    [InlineData("acme/faces/versions/3", "acme/faces", null, 3, "acme")]
    [InlineData("acme/versions", "acme/versions", null, null, "acme")]
    public void References_take_an_optional_owner(string text, string model, string? alias, int? version, string? owner)
    {
        var reference = ModelReference.Parse(text);
        Assert.Equal((model, alias, version, owner), (reference.Model, reference.Alias, reference.Version, reference.Owner));
        Assert.Equal(model[(model.IndexOf('/') + 1)..], reference.Name);
        Assert.Equal(text, reference.ToString());
    }

    [Theory]
    [InlineData("a/b/c")]
    [InlineData("/faces")]
    [InlineData("acme/")]
    [InlineData("acme:x/faces")]
    [InlineData("Acme/faces")]
    [InlineData("acme/faces/versions/0")]
    [InlineData("acme/faces/versions/x/y")]
    [InlineData("acme%2Ffaces")]
    public void Malformed_references_are_refused(string text) => Assert.False(ModelReference.TryParse(text, out _));

    [Fact]
    public void Keys_leave_the_default_tenant_out_and_name_every_other()
    {
        Assert.Equal("faces", ModelKeys.Of(Model.DefaultOwner, "faces"));
        Assert.Equal("acme/faces", ModelKeys.Of("acme", "faces"));
        Assert.Equal("faces", ModelKeys.Normalize("default/faces"));
        Assert.True(ModelKeys.TrySplit("faces", out var owner, out var name));
        Assert.Equal((Model.DefaultOwner, "faces"), (owner, name));
        Assert.True(ModelKeys.TrySplit("acme/faces", out owner, out name));
        Assert.Equal(("acme", "faces"), (owner, name));
        Assert.False(ModelKeys.IsValid("acme/faces:prod"));
        Assert.False(ModelKeys.IsValid("a/b/c"));
        Assert.Equal("invalid_name", Assert.Throws<RegistryException>(() => ModelKeys.Validate("x/")).Code);

        Assert.Equal("faces", ModelKeys.RelativeTo("acme/faces", "acme"));
        Assert.Equal("acme/faces", ModelKeys.RelativeTo("acme/faces", "beta"));
        Assert.Equal("default/faces", ModelKeys.RelativeTo("faces", "beta"));
        Assert.Equal("faces", ModelKeys.RelativeTo("faces", Model.DefaultOwner));
        Assert.Equal("acme/faces", ModelKeys.UnescapeSlash("acme%2Ffaces"));
        Assert.Equal("acme/faces", ModelKeys.UnescapeSlash("acme%2ffaces"));
    }

    [Fact]
    public void Key_patterns_without_a_slash_match_names_in_any_tenant_and_with_one_the_qualified_name()
    {
        Assert.True(ModelPatterns.Allows(["faces*"], "acme/faces-v2"));
        Assert.True(ModelPatterns.Allows(["acme/*"], "acme/faces"));
        Assert.False(ModelPatterns.Allows(["acme/*"], "beta/faces"));
        Assert.True(ModelPatterns.Allows(["*/faces"], "beta/faces"));
        Assert.False(ModelPatterns.Allows(["*/faces"], "faces")); // a bare name has no owner to match
        Assert.True(ModelPatterns.Allows(["*"], "beta/faces"));

        // Wildcards never cross the slash: "a*" is about names, not about tenants whose name starts with "a".
        Assert.False(ModelPatterns.Allows(["a*"], "acme/faces"));
        Assert.False(ModelPatterns.Matches("acme*", "acme/faces"));
        Assert.False(ModelPatterns.Matches("acme?faces", "acme/faces"));
        Assert.True(ModelPatterns.Matches("*/*", "acme/faces"));

        var caller = new Caller("k", "p", "n", "acme", [MaasScopes.Infer], ["beta/*", "own-*"]);
        Assert.True(caller.CanSee("faces", "beta", ModelVisibility.Shared));
        Assert.False(caller.CanSee("faces", "gamma", ModelVisibility.Shared));
        Assert.True(caller.CanSee("own-model", "acme", ModelVisibility.Private));
        Assert.False(caller.CanSee("secret", "beta", ModelVisibility.Private)); // patterns never open a private model
        Assert.False(caller.CanChange("faces", "beta"));
    }
}
