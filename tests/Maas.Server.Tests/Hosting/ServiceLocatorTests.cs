using System.Reflection;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Hosting;

/// <summary>
/// No service locators (#13): a Maas.Server type names what it needs (constructor parameters, handler parameters,
/// values captured when routes are mapped) instead of looking services up at run time. Only the composition root (the
/// features' <c>AddMaas...</c> factories and mapping code) reads the container, once, when it builds a service.
/// </summary>
public sealed class ServiceLocatorTests
{
    private const BindingFlags Everything = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    // The gRPC listener is a second web host over the main one's services: handing it the provider is its job.
    private static readonly HashSet<string> Hosts = ["Maas.Server.TensorInference.Grpc.GrpcServer"];

    private static readonly MethodInfo RequestServicesGetter = typeof(HttpContext).GetProperty(nameof(HttpContext.RequestServices))!.GetMethod!;

    [Fact]
    public void No_server_type_takes_or_keeps_the_container()
    {
        var holders = new List<string>();
        foreach (var type in OwnTypes().Where(t => !t.Name.Contains('<', StringComparison.Ordinal)))
        {
            // Compiler-made closures of the composition root's factories are skipped: they run when a service is built.
            holders.AddRange(type.GetConstructors(Everything).SelectMany(c => c.GetParameters())
                .Where(p => IsContainer(p.ParameterType)).Select(p => $"{type.FullName}({p.Name})"));
            holders.AddRange(type.GetFields(Everything).Where(f => IsContainer(f.FieldType)).Select(f => $"{type.FullName}.{f.Name}"));
        }

        Assert.True(holders.Count == 0, $"these keep the container to look services up later: {string.Join(", ", holders.Distinct())}");
    }

    [Fact]
    public void No_request_looks_its_services_up()
    {
        // Async state machines and lambdas' closures included: that is where a handler's body is compiled to.
        var readers = OwnTypes()
            .SelectMany(t => t.GetMethods(Everything).Cast<MethodBase>().Concat(t.GetConstructors(Everything)))
            .Where(m => Calls(m, RequestServicesGetter))
            .Select(m => $"{m.DeclaringType!.FullName}.{m.Name}")
            .Distinct()
            .ToList();
        Assert.True(readers.Count == 0, $"these read HttpContext.RequestServices: {string.Join(", ", readers)}");
    }

    [Fact]
    public void The_scan_sees_a_read_of_the_requests_services()
    {
        var reader = typeof(ServiceLocatorTests).GetMethod(nameof(ReadsRequestServices), Everything)!;
        Assert.True(Calls(reader, RequestServicesGetter));
        Assert.False(Calls(typeof(ServiceLocatorTests).GetMethod(nameof(IsContainer), Everything)!, RequestServicesGetter));
    }

    private static IServiceProvider ReadsRequestServices(HttpContext context) => context.RequestServices;

    private static IEnumerable<Type> OwnTypes() =>
        typeof(MaasApp).Assembly.GetTypes().Where(t => !Hosts.Contains(t.FullName ?? "") && !Hosts.Any(h => t.FullName?.StartsWith(h + "+", StringComparison.Ordinal) == true));

    private static bool IsContainer(Type type) => type == typeof(IServiceProvider) || type == typeof(IServiceScopeFactory) || type == typeof(IKeyedServiceProvider);

    // Whether the method's IL calls `target` (a call or callvirt whose operand resolves to it).
    private static bool Calls(MethodBase method, MethodInfo target)
    {
        if (method.GetMethodBody()?.GetILAsByteArray() is not { } il)
        {
            return false;
        }

        for (var i = 0; i + 4 < il.Length; i++)
        {
            if (il[i] is not (0x28 or 0x6F))
            {
                continue;
            }

            var token = BitConverter.ToInt32(il, i + 1);
            if ((token >> 24) is not (0x0A or 0x06))
            {
                continue;
            }

            try
            {
                if (method.Module.ResolveMethod(token) is MethodInfo called && called.DeclaringType == target.DeclaringType && called.Name == target.Name)
                {
                    return true;
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // An operand that only looked like a call, or one needing a generic context: not the getter.
            }
        }

        return false;
    }
}
