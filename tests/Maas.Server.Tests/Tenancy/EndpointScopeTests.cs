using System.Net;
using Maas.Core.Tenancy;
using Maas.Server.Auth;
using Maas.Server.TensorInference.Grpc.Protocol;
using Maas.Server.Tests.Support;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Tenancy;

public sealed class EndpointScopeTests(TenancyHostFixture fixture) : IClassFixture<TenancyHostFixture>
{
    private TenancyHost Host => fixture.Host;

    [Fact]
    public void Every_route_of_the_app_declares_a_scope_or_is_a_health_probe()
    {
        var endpoints = Host.Server.Services.GetRequiredService<EndpointDataSource>().Endpoints;
        var access = Host.Server.Services.GetRequiredService<EndpointAccess>();
        Assert.NotEmpty(endpoints);
        var undeclared = new List<string>();
        foreach (var endpoint in endpoints)
        {
            var rule = access.Resolve(endpoint);
            var name = endpoint is RouteEndpoint route ? $"{string.Join(",", route.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods ?? [])} " +
                $"/{route.RoutePattern.RawText?.TrimStart('/')}" : endpoint.DisplayName;
            switch (rule.Kind)
            {
                case AccessKind.Undeclared:
                    undeclared.Add(name ?? "?");
                    break;
                case AccessKind.Anonymous:
                    Assert.True(
                        EndpointAccess.ProbePatterns.Contains(rule.Operation) || EndpointAccess.PublicAssetPatterns.Contains(rule.Operation),
                        $"{rule.Operation} is anonymous but neither a health probe nor a console file");
                    break;
            }
        }

        Assert.True(undeclared.Count == 0, "routes without a scope:\n" + string.Join("\n", undeclared.Order()));
    }

    [Fact]
    public void Every_grpc_method_has_a_rule_and_only_the_health_probes_are_anonymous()
    {
        var methods = GrpcServiceReflection.Descriptor.Services.Single().Methods.Select(m => m.Name).ToArray();
        Assert.Equal(methods.Order(), GrpcAccess.Methods.Keys.Order());
        foreach (var method in methods)
        {
            var rule = GrpcAccess.Resolve(GrpcAccess.ServicePrefix + method);
            Assert.Equal(method is "ServerLive" or "ServerReady" ? AccessKind.Anonymous : AccessKind.Scoped, rule.Kind);
        }

        Assert.Equal(AccessKind.Scoped, GrpcAccess.Resolve("/inference.GRPCInferenceService/NoSuchMethod").Kind);
    }

    public static TheoryData<string, string, string, HttpStatusCode> Matrix()
    {
        var data = new TheoryData<string, string, string, HttpStatusCode>();
        var routes = new (string Method, string Path, string[] Allowed)[]
        {
            ("GET", "api/v1/tenants", [MaasScopes.Admin]),
            ("GET", "api/v1/tenants/default", [MaasScopes.Admin]),
            ("GET", "api/v1/keys", [MaasScopes.Admin]),
            ("GET", "api/v1/audit", [MaasScopes.Admin]),
            ("GET", "api/v1/usage", [MaasScopes.Admin, MaasScopes.ModelsWrite, MaasScopes.ModelsRead]),
            ("GET", "api/v1/me", MaasScopes.All.ToArray()),
            ("GET", "metrics", [MaasScopes.Admin]),
            ("POST", "api/v1/tenants", [MaasScopes.Admin]),
            ("POST", "api/v1/keys", [MaasScopes.Admin]),
            ("DELETE", "api/v1/keys/key_0000000000000000", [MaasScopes.Admin]),
        };
        foreach (var (method, path, allowed) in routes)
        {
            foreach (var scope in MaasScopes.All)
            {
                // Allowed calls may still fail validation (an empty body, an unknown id), but never with 401/403.
                data.Add(method, path, scope, allowed.Contains(scope) ? HttpStatusCode.OK : HttpStatusCode.Forbidden);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Matrix))]
    public async Task Scopes_times_routes(string method, string path, string scope, HttpStatusCode expected)
    {
        var (_, _, client) = await Host.TenantWithKeyAsync(scope);
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method == "POST")
        {
            request.Content = Api.Json("{}");
        }

        using var response = await client.SendAsync(request);
        if (expected == HttpStatusCode.Forbidden)
        {
            await response.ErrorAsync(HttpStatusCode.Forbidden, "insufficient_scope");
        }
        else
        {
            Assert.NotEqual(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.NotEqual(HttpStatusCode.Unauthorized, response.StatusCode);
        }
    }
}
