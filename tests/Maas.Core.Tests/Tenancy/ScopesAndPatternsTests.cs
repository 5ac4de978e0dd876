using Maas.Core.Registry;
using Maas.Core.Tenancy;

namespace Maas.Core.Tests.Tenancy;

public sealed class ScopesAndPatternsTests
{
    [Theory]
    [InlineData("admin", "admin", true)]
    [InlineData("admin", "models:write", true)]
    [InlineData("admin", "models:read", true)]
    [InlineData("admin", "infer", true)]
    [InlineData("models:write", "models:read", true)]
    [InlineData("models:write", "infer", false)]
    [InlineData("models:write", "admin", false)]
    [InlineData("models:read", "models:write", false)]
    [InlineData("infer", "models:read", false)]
    [InlineData("infer", "infer", true)]
    public void Scopes_imply_as_documented(string granted, string required, bool expected) =>
        Assert.Equal(expected, MaasScopes.Grants(granted, required));

    [Fact]
    public void Any_of_several_scopes_is_enough()
    {
        Assert.True(MaasScopes.Satisfies(["infer"], ["models:read", "infer"]));
        Assert.False(MaasScopes.Satisfies(["infer"], ["models:read", "models:write"]));
        Assert.False(MaasScopes.Satisfies([], MaasScopes.All));
    }

    [Theory]
    [InlineData("mlp", "mlp", true)]
    [InlineData("mlp", "mlp2", false)]
    [InlineData("mlp*", "mlp2", true)]
    [InlineData("mlp*", "mlp", true)]
    [InlineData("*-prod", "chat-prod", true)]
    [InlineData("*-prod", "chat-production", false)]
    [InlineData("m?p", "mlp", true)]
    [InlineData("m?p", "mp", false)]
    [InlineData("*", "anything", true)]
    [InlineData("a*b*c", "axxbyyc", true)]
    [InlineData("a*b*c", "axxbyy", false)]
    public void Globs_match_whole_names(string pattern, string name, bool expected) =>
        Assert.Equal(expected, ModelPatterns.Matches(pattern, name));

    [Fact]
    public void An_empty_model_list_allows_every_model_and_references_match_by_name()
    {
        Assert.True(ModelPatterns.Allows([], "anything"));
        Assert.True(ModelPatterns.Allows(["llama*"], ModelPatterns.ModelNameOf("llama-7b:production")));
        Assert.True(ModelPatterns.Allows(["mlp"], ModelPatterns.ModelNameOf("mlp/versions/3")));
        Assert.False(ModelPatterns.Allows(["mlp"], "other"));
        Assert.False(ModelPatterns.IsValid("MLP"));
        Assert.True(ModelPatterns.IsValid("a/b"));
        Assert.False(ModelPatterns.IsValid("a/b/c"));
        Assert.False(ModelPatterns.IsValid("/b"));
        Assert.True(ModelPatterns.IsValid("chat-*"));
    }

    [Fact]
    public void A_tenant_sees_its_own_and_shared_models_never_another_tenants_private_ones()
    {
        var a = new Caller("key_a", "maas_aaaaaaa", "a", "team-a", ["infer", "models:write"], []);
        Assert.True(a.CanSee("m", "team-a", ModelVisibility.Private));
        Assert.True(a.CanSee("m", "team-b", ModelVisibility.Shared));
        Assert.False(a.CanSee("m", "team-b", ModelVisibility.Private));
        Assert.True(a.CanChange("m", "team-a"));
        Assert.False(a.CanChange("m", "team-b"));

        var restricted = new Caller("key_r", "maas_rrrrrrr", "r", "team-a", ["infer"], ["chat-*"]);
        Assert.True(restricted.CanSee("chat-small", "team-a", ModelVisibility.Private));
        Assert.False(restricted.CanSee("mlp", "team-a", ModelVisibility.Private));
        Assert.False(restricted.CanSee("mlp", "team-b", ModelVisibility.Shared));

        var admin = new Caller("key_x", "maas_xxxxxxx", "x", "default", ["admin"], []);
        Assert.True(admin.CanSee("m", "team-b", ModelVisibility.Private));
        Assert.True(admin.CanChange("m", "team-b"));
        Assert.True(admin.Has("infer"));
    }

    [Fact]
    public void Limits_are_validated_field_by_field()
    {
        Assert.Empty(new UsageLimits { RequestsPerMinute = 1, DailyComputeSeconds = 0.5 }.Validate());
        var errors = new UsageLimits { RequestsPerMinute = 0, ConcurrentRequests = -1, MonthlyComputeSeconds = double.NaN }.Validate();
        Assert.Equal(3, errors.Count);
        Assert.Contains(errors, e => e.Contains("requests_per_minute", StringComparison.Ordinal));
        Assert.True(new UsageLimits().IsEmpty);
        Assert.True(new UsageLimits { DailyTokens = 5 }.HasBudget);
    }
}
