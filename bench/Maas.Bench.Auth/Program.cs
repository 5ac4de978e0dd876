using System.Diagnostics;
using System.Globalization;
using System.Net;
using Maas.Bench.Auth;
using Maas.Core.Tenancy;
using Maas.Server;
using Maas.Server.Auth;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

// Measures what the auth gate (key lookup from cache, scope check, rate-limit admission, usage record) adds to one
// request: the gate with a no-op endpoint, minus the no-op endpoint alone, per call, many times; p50/p90/p99.
var iterations = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 200_000;
var dataDir = Directory.CreateTempSubdirectory("maas-bench-auth").FullName;
const string AdminKey = "maas_bench-admin-key-0123456789abcdefghij";
try
{
    var app = MaasApp.Create(
    [
        "--urls", "http://127.0.0.1:0",
        "--Maas:DataDir=" + dataDir,
        "--Maas:Auth:AdminKey=" + AdminKey,
        "--Maas:Inference:Demo=false",
        "--Maas:Inference:GrpcUrl=",
        "--Logging:LogLevel:Default=Warning",
    ]);
    await app.StartAsync();
    var services = app.Services;
    var manager = services.GetRequiredService<TenancyManager>();
    await manager.CreateTenantAsync("bench", new UsageLimits { RequestsPerMinute = long.MaxValue / 2, ConcurrentRequests = 1000 }, "bench", CancellationToken.None);
    var (_, secret) = await manager.CreateKeyAsync(
        new NewApiKey("bench", "bench", [MaasScopes.Infer, MaasScopes.ModelsRead], ["*"], null,
            new UsageLimits { RequestsPerMinute = long.MaxValue / 2, TokensPerMinute = long.MaxValue / 2 }, "bench"),
        CancellationToken.None);

    var endpoint = services.GetRequiredService<EndpointDataSource>().Endpoints
        .OfType<RouteEndpoint>()
        .First(e => e.RoutePattern.RawText == "/api/v1/me");
    var pipeline = services.GetRequiredService<AuthPipeline>();
    RequestDelegate endpointWork = _ => Task.CompletedTask;

    HttpContext NewContext()
    {
        var context = new DefaultHttpContext { RequestServices = services };
        context.Request.Method = "GET";
        context.Request.Path = "/api/v1/me";
        context.Request.Headers.Authorization = "Bearer " + secret;
        context.Connection.RemoteIpAddress = IPAddress.Loopback;
        context.Connection.LocalIpAddress = IPAddress.Loopback;
        context.SetEndpoint(endpoint);
        return context;
    }

    // Warm up: JIT, the key cache (the first call reads the key from the database), the tier-1 code.
    for (var i = 0; i < 20_000; i++)
    {
        await pipeline.InvokeAsync(NewContext(), endpointWork);
        await endpointWork(NewContext());
    }

    var gate = new double[iterations];
    var bare = new double[iterations];
    for (var i = 0; i < iterations; i++)
    {
        // Alternate the two measurements so noise from other processes lands on both alike.
        var a = NewContext();
        var start = Stopwatch.GetTimestamp();
        await pipeline.InvokeAsync(a, endpointWork);
        gate[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        if (a.Response.StatusCode != 200)
        {
            throw new InvalidOperationException($"the gate answered {a.Response.StatusCode}");
        }

        var b = NewContext();
        start = Stopwatch.GetTimestamp();
        await endpointWork(b);
        bare[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
    }

    await app.StopAsync();
    await app.DisposeAsync();

    var report = Report.Markdown(gate, bare, iterations);
    Console.WriteLine(report);
    return Percentiles.Of(gate, 0.5) - Percentiles.Of(bare, 0.5) < 50 ? 0 : 1;
}
finally
{
    Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
    Directory.Delete(dataDir, recursive: true);
}
