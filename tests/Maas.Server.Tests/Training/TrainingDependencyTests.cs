using System.Reflection;
using Maas.Server.FineTuning;
using Maas.Server.Jobs;
using Microsoft.AspNetCore.Http;

namespace Maas.Server.Tests.Training;

/// <summary>
/// The training, job and fine-tuning code takes what it needs (constructor parameters, handler parameters, values
/// captured when routes are mapped) instead of looking it up at run time (#13): no service holds the container, and
/// no request reads <see cref="HttpContext.RequestServices"/>. Factories of the composition root (the AddMaas...
/// registrations) may still read the container once, when they build a service.
/// </summary>
public sealed class TrainingDependencyTests
{
    private static readonly string[] Namespaces = ["Maas.Server.Training", "Maas.Server.Jobs", "Maas.Server.FineTuning"];

    private static readonly MethodInfo RequestServicesGetter = typeof(HttpContext).GetProperty(nameof(HttpContext.RequestServices))!.GetMethod!;

    private const BindingFlags Everything = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    [Fact]
    public void No_service_of_these_features_holds_the_container()
    {
        var holders = Types()
            .SelectMany(t => t.GetFields(Everything).Where(f => IsContainer(f.FieldType)).Select(f => $"{t.FullName}.{f.Name}")
                .Concat(t.GetConstructors(Everything).SelectMany(c => c.GetParameters()).Where(p => IsContainer(p.ParameterType)).Select(p => $"{t.FullName}({p.Name})")))
            .Distinct()
            .ToList();
        Assert.True(holders.Count == 0, $"these keep the container to look services up later: {string.Join(", ", holders)}");
    }

    [Fact]
    public void No_request_of_these_features_looks_its_services_up()
    {
        var readers = Types()
            .SelectMany(t => t.GetMethods(Everything).Cast<MethodBase>().Concat(t.GetConstructors(Everything)))
            .Where(m => !IsOptimizationAdapter(m) && Calls(m, RequestServicesGetter))
            .Select(m => $"{m.DeclaringType!.FullName}.{m.Name}")
            .Distinct()
            .ToList();
        Assert.True(readers.Count == 0, $"these read HttpContext.RequestServices: {string.Join(", ", readers)}");
    }

    [Fact]
    public void The_check_sees_a_read_of_the_requests_services()
    {
        // The scan itself: the one method still allowed to read them (for the :optimize route, until it passes its own
        // queue and options) is found reading them.
        var adapter = typeof(JobSubmission).GetMethods(Everything).Single(IsOptimizationAdapter);
        Assert.True(Calls(adapter, RequestServicesGetter));
    }

    // Every type of the three features, the compiler's own (async state machines, lambdas' closures) included.
    private static IEnumerable<Type> Types() =>
        typeof(FineTuningExtensions).Assembly.GetTypes().Where(t => t.Namespace is { } ns && Namespaces.Any(n => ns == n || ns.StartsWith(n + ".", StringComparison.Ordinal)));

    private static bool IsContainer(Type type) => type == typeof(IServiceProvider) || type == typeof(Microsoft.Extensions.DependencyInjection.IServiceScopeFactory);

    // JobSubmission.CheckRoomAsync(HttpContext, string), kept only for OptimizationEndpoints.
    private static bool IsOptimizationAdapter(MethodBase method) =>
        method.DeclaringType == typeof(JobSubmission)
        && method.Name == nameof(JobSubmission.CheckRoomAsync)
        && method.GetParameters().FirstOrDefault()?.ParameterType == typeof(HttpContext);

    // Whether the method's IL calls `target` (a call or callvirt of its metadata token).
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
                // Not a method this scan can resolve (an operand that looked like a call, a generic context): not the getter.
            }
        }

        return false;
    }
}
