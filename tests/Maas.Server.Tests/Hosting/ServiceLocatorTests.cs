using System.Reflection;

namespace Maas.Server.Tests.Hosting;

/// <summary>
/// No service locators: a Maas.Server type names what it needs in its constructor instead of pulling services out of
/// the container at run time. Only the composition root (the features' <c>AddMaas...</c> factories and mapping code)
/// reads the container.
/// </summary>
public sealed class ServiceLocatorTests
{
    // The gRPC listener is a second web host over the main one's services: handing it the provider is its job.
    private static readonly HashSet<string> Hosts = ["Maas.Server.TensorInference.Grpc.GrpcServer"];

    [Fact]
    public void No_server_type_takes_or_keeps_the_service_provider()
    {
        var offenders = new List<string>();
        foreach (var type in typeof(MaasApp).Assembly.GetTypes())
        {
            if (type.FullName is not { } name || Hosts.Contains(name) || name.Contains('<', StringComparison.Ordinal))
            {
                continue; // compiler-generated closures of the composition root's lambdas are not types of ours
            }

            const BindingFlags all = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;
            offenders.AddRange(type.GetConstructors(all)
                .Where(c => c.GetParameters().Any(p => p.ParameterType == typeof(IServiceProvider)))
                .Select(_ => $"{name}'s constructor takes an IServiceProvider"));
            offenders.AddRange(type.GetFields(all)
                .Where(f => f.FieldType == typeof(IServiceProvider))
                .Select(f => $"{name} keeps an IServiceProvider in {f.Name}"));
        }

        Assert.True(offenders.Count == 0, string.Join("\n", offenders.Distinct()));
    }
}
