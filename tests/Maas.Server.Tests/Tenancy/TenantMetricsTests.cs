using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Maas.Core.Tenancy;
using Maas.Testing;

namespace Maas.Server.Tests.Tenancy;

/// <summary>Per-tenant series in /metrics exist only where the option turns them on.</summary>
public sealed class TenantMetricsTests
{
    private static double Sample(string metrics, string name, params string[] labels)
    {
        var total = 0.0;
        var found = false;
        foreach (var line in metrics.Split('\n'))
        {
            if (line.StartsWith(name + "{", StringComparison.Ordinal) && labels.All(l => line.Contains(l, StringComparison.Ordinal)))
            {
                total += double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
                found = true;
            }
        }

        return found ? total : throw new InvalidOperationException($"no {name} series with {string.Join(", ", labels)} in:\n{metrics}");
    }

    [Fact]
    public async Task With_the_option_requests_are_counted_per_tenant_and_status_class()
    {
        await using var host = await TenancyHost.StartAsync(new Dictionary<string, string?> { ["Maas:Usage:TenantMetrics"] = "true" });
        var (tenant, _, client) = await host.TenantWithKeyAsync(MaasScopes.ModelsRead);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/me")).StatusCode);
        }

        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync("api/v1/keys")).StatusCode);

        // A request is counted as its handling ends, which may be just after its caller has the answer.
        var metrics = await Conditions.ReadUntilAsync(
            () => host.Admin.GetStringAsync("metrics"),
            text => text.Contains("status=\"4xx\"", StringComparison.Ordinal),
            "the refused request is counted");

        Assert.Equal(3, Sample(metrics, "maas_tenant_requests_total", $"tenant=\"{tenant}\"", "status=\"2xx\""));
        Assert.Equal(1, Sample(metrics, "maas_tenant_requests_total", $"tenant=\"{tenant}\"", "status=\"4xx\""));
    }

    [Fact]
    public async Task By_default_no_series_carries_a_tenant()
    {
        await using var host = await TenancyHost.StartAsync();
        var (_, _, client) = await host.TenantWithKeyAsync(MaasScopes.ModelsRead);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/me")).StatusCode);
        var metrics = await host.Admin.GetStringAsync("metrics");
        Assert.Contains("maas_", metrics, StringComparison.Ordinal);
        Assert.DoesNotMatch(new Regex("^[a-z_]+\\{[^}]*tenant=", RegexOptions.Multiline), metrics);
    }
}
