using System.Reflection;
using Maas.Server.Deployments;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Deployments;

/// <summary>The deployments feature's types are given their dependencies; none looks services up at run time.</summary>
public sealed class DeploymentWiringTests
{
    [Fact]
    public void No_deployment_type_takes_the_service_provider()
    {
        Type[] locators = [typeof(IServiceProvider), typeof(IServiceScopeFactory), typeof(IKeyedServiceProvider)];
        var found = typeof(DeploymentService).Assembly.GetTypes()
            .Where(t => t.Namespace == typeof(DeploymentService).Namespace)
            .SelectMany(t => t.GetConstructors(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance).Select(c => (Type: t, Constructor: c)))
            .SelectMany(c => c.Constructor.GetParameters().Where(p => locators.Contains(p.ParameterType)).Select(p => $"{c.Type.Name}({p.ParameterType.Name} {p.Name})"))
            .ToList();

        // DeploymentService, DeploymentUnloader and DeployedVersionUseCheck used to take one and resolve what they needed when called.
        Assert.True(found.Count == 0, "Deployment types that take a service locator: " + string.Join(", ", found));
    }
}
