using Maas.Server.Hosting;
using Microsoft.Extensions.Configuration;

namespace Maas.Server.Tests.Hosting;

public sealed class ListSettingsCheckTests
{
    [Fact]
    public void A_list_given_one_value_is_named_and_one_given_entries_is_not()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Maas:Auth:TrustedProxies:0"] = "10.0.0.5",
            ["Maas:Auth:TrustedProxies:1"] = "10.0.0.0/8",
            ["Maas:Registry:ImportAllowedHosts"] = "huggingface.co",
            ["Maas:Optimization:ServeRejected"] = "demo/versions/2",
            ["Maas:Inference:HttpTransport"] = "threads", // not a list
        }).Build();

        var problems = ListSettingsCheck.Problems(configuration);

        Assert.Equal(2, problems.Count);
        Assert.Contains(problems, p => p.StartsWith("Maas:Registry:ImportAllowedHosts is a list: ", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Maas:Optimization:ServeRejected is a list: ", StringComparison.Ordinal)
            && p.Contains("MAAS_Maas__Optimization__ServeRejected__0", StringComparison.Ordinal));
    }

    [Fact]
    public void Empty_lists_from_json_are_not_problems()
    {
        // An empty JSON array reaches configuration as the key with an empty value.
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Maas:Auth:TrustedProxies"] = "" }).Build();
        Assert.Empty(ListSettingsCheck.Problems(configuration));
    }
}
