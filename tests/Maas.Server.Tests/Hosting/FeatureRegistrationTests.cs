using Maas.Server.Auth;
using Maas.Server.Datasets;
using Maas.Server.Deployments;
using Maas.Server.FineTuning;
using Maas.Server.Health;
using Maas.Server.ModelHosting;
using Maas.Server.Observability;
using Maas.Server.OpenAi;
using Maas.Server.Optimization;
using Maas.Server.Payloads;
using Maas.Server.Registry;
using Maas.Server.Tenancy;
using Maas.Server.TensorInference;
using Maas.Server.Training;
using Maas.Server.WebConsole;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Hosting;

/// <summary>
/// Each feature's <c>AddMaas...</c> registers only itself: every service, implementation and option type it adds
/// from Maas.Server lives in that feature's own folder (namespace), so MaasApp's list reads as what each line adds.
/// </summary>
public sealed class FeatureRegistrationTests
{
    // Hooks a feature may hand to another one on purpose: the gRPC listener's pipeline takes the auth gate.
    private static readonly HashSet<Type> SharedHooks = [typeof(Maas.Server.TensorInference.Grpc.GrpcPipelineOptions)];

    // Shared infrastructure every feature may use (not a feature of its own).
    private static readonly string[] SharedNamespaces = ["Maas.Server.Hosting", "Maas.Server.Errors", "Maas.Server.Jobs"];

    public static TheoryData<string, string> Features() => new()
    {
        { "Auth", "Maas.Server.Auth" },
        { "Tenancy", "Maas.Server.Tenancy" },
        { "PayloadLogging", "Maas.Server.Payloads" },
        { "Observability", "Maas.Server.Observability" },
        { "Health", "Maas.Server.Health" },
        { "ModelHosting", "Maas.Server.ModelHosting" },
        { "Inference", "Maas.Server.TensorInference" },
        { "OpenAi", "Maas.Server.OpenAi" },
        { "Datasets", "Maas.Server.Datasets" },
        { "Console", "Maas.Server.WebConsole" },
        { "Training", "Maas.Server.Training" },
        { "FineTuning", "Maas.Server.FineTuning" },
        { "Optimization", "Maas.Server.Optimization" },
        { "Deployments", "Maas.Server.Deployments" },
        { "Registry", "Maas.Server.Registry" },
    };

    [Theory]
    [MemberData(nameof(Features))]
    public void A_feature_registers_only_types_of_its_own_folder(string feature, string ownNamespace)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [] });
        var before = builder.Services.Count;
        Register(builder, feature);

        var added = builder.Services.Skip(before).ToList();
        Assert.NotEmpty(added);
        var foreign = added
            .SelectMany(d => TypesOf(d))
            .Where(t => t.Namespace is { } ns && ns.StartsWith("Maas.Server.", StringComparison.Ordinal))
            .Where(t => !SharedHooks.Contains(t))
            .Where(t => !t.Namespace!.StartsWith(ownNamespace, StringComparison.Ordinal))
            .Where(t => !SharedNamespaces.Any(s => t.Namespace!.StartsWith(s, StringComparison.Ordinal)))
            .Select(t => t.FullName)
            .Distinct()
            .ToList();
        Assert.True(foreign.Count == 0, $"AddMaas{feature} registers types of other features: {string.Join(", ", foreign)}");
    }

    private static void Register(WebApplicationBuilder builder, string feature)
    {
        _ = feature switch
        {
            "Auth" => builder.AddMaasAuth(),
            "Tenancy" => builder.AddMaasTenancy(),
            "PayloadLogging" => builder.AddMaasPayloadLogging(),
            "Observability" => builder.AddMaasObservability(),
            "Health" => builder.AddMaasHealth(),
            "ModelHosting" => builder.AddMaasModelHosting(),
            "Inference" => builder.AddMaasInference(),
            "OpenAi" => builder.AddMaasOpenAi(),
            "Datasets" => builder.AddMaasDatasets(),
            "Console" => builder.AddMaasConsole(),
            "Training" => builder.AddMaasTraining(),
            "FineTuning" => builder.AddMaasFineTuning(),
            "Optimization" => builder.AddMaasOptimization(),
            "Deployments" => builder.AddMaasDeployments(),
            "Registry" => builder.AddMaasRegistry(),
            _ => throw new ArgumentOutOfRangeException(nameof(feature), feature, null),
        };
    }

    // The service type, the implementation type and the type arguments of both (IConfigureOptions<T>, IValidateOptions<T>, ...).
    private static IEnumerable<Type> TypesOf(ServiceDescriptor descriptor)
    {
        var direct = new[] { descriptor.ServiceType, descriptor.IsKeyedService ? descriptor.KeyedImplementationType : descriptor.ImplementationType };
        foreach (var type in direct.OfType<Type>())
        {
            yield return type;
            foreach (var argument in type.IsGenericType ? type.GetGenericArguments() : [])
            {
                yield return argument;
            }
        }
    }
}
