using System.Net;
using Maas.Core.Registry;
using Maas.Core.Registry.Import;

namespace Maas.Core.Tests.Registry;

public sealed class ImportNetworkPolicyTests
{
    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("127.255.0.9")]
    [InlineData("0.0.0.0")]
    [InlineData("10.0.0.1")]
    [InlineData("172.16.0.1")]
    [InlineData("172.31.255.254")]
    [InlineData("192.168.1.1")]
    [InlineData("169.254.169.254")]
    [InlineData("100.64.0.1")]
    [InlineData("224.0.0.1")]
    [InlineData("255.255.255.255")]
    [InlineData("::1")]
    [InlineData("::")]
    [InlineData("fe80::1")]
    [InlineData("fd12:3456::1")]
    [InlineData("fc00::1")]
    [InlineData("ff02::1")]
    [InlineData("::ffff:127.0.0.1")]
    [InlineData("::ffff:10.0.0.1")]
    public void Own_network_addresses_are_private(string address) =>
        Assert.True(ImportNetworkPolicy.IsPrivate(IPAddress.Parse(address)), address);

    [Theory]
    [InlineData("8.8.8.8")]
    [InlineData("172.15.255.255")]
    [InlineData("172.32.0.1")]
    [InlineData("100.128.0.1")]
    [InlineData("193.0.0.1")]
    [InlineData("2606:4700::1111")]
    [InlineData("::ffff:8.8.4.4")]
    public void Public_addresses_are_not(string address) =>
        Assert.False(ImportNetworkPolicy.IsPrivate(IPAddress.Parse(address)), address);

    [Fact]
    public void The_allow_list_takes_exact_hosts_and_subdomain_patterns_and_always_the_hub()
    {
        var policy = new ImportNetworkPolicy(new RegistryOptions { ImportAllowedHosts = ["models.example.com", "*.cdn.example"] });
        policy.CheckHost(new Uri("https://models.example.com/a.onnx"));
        policy.CheckHost(new Uri("https://MODELS.example.com/a.onnx"));
        policy.CheckHost(new Uri("https://eu.cdn.example/a.onnx"));
        policy.CheckHost(new Uri("https://huggingface.co/o/r/resolve/main/a.gguf"));
        var refused = Assert.Throws<ImportBlockedException>(() => policy.CheckHost(new Uri("https://evil.example.com/a.onnx")));
        Assert.Contains("ImportAllowedHosts", refused.Message, StringComparison.Ordinal);
        Assert.Throws<ImportBlockedException>(() => policy.CheckHost(new Uri("https://cdn.example.evil/a.onnx")));
        Assert.Throws<ImportBlockedException>(() => policy.CheckHost(new Uri("https://xcdn.example/a.onnx")));

        // No list: any host by name (addresses are still checked when connecting).
        new ImportNetworkPolicy(new RegistryOptions()).CheckHost(new Uri("https://anything.example/a.onnx"));
    }

    [Fact]
    public void Allowed_hosts_that_are_not_host_names_fail_validation()
    {
        var errors = new RegistryOptions { ImportAllowedHosts = ["ok.example", "*.fine.example", "not a host/"] }.Validate();
        var error = Assert.Single(errors);
        Assert.Contains("not a host/", error, StringComparison.Ordinal);
    }
}
