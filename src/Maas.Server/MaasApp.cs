using Maas.Server.Auth;
using Maas.Server.Datasets;
using Maas.Server.Deployments;
using Maas.Server.FineTuning;
using Maas.Server.Health;
using Maas.Server.Hosting;
using Maas.Server.ModelHosting;
using Maas.Server.Observability;
using Maas.Server.Ollama;
using Maas.Server.OpenAi;
using Maas.Server.Optimization;
using Maas.Server.Payloads;
using Maas.Server.Registry;
using Maas.Server.Tenancy;
using Maas.Server.TensorInference;
using Maas.Server.Training;
using Maas.Server.WebConsole;

namespace Maas.Server;

/// <summary>Builds the MaaS web application: the table of contents of every feature.</summary>
public static class MaasApp
{
    /// <summary>Creates the app from command-line args; tests pass --urls and a data folder the same way.</summary>
    public static WebApplication Create(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        TensorInference.Transport.ConnectionThreadRuntime.Prepare(args); // a runtime setting read once, before the host exists
        var builder = WebApplication.CreateBuilder(args);
        builder.AddMaasHosting(args);
        // Feature registrations (one line each).
        builder.AddMaasRegistry();
        builder.AddMaasAuth();
        builder.AddMaasTenancy();
        builder.AddMaasPayloadLogging();
        builder.AddMaasObservability();
        builder.AddMaasHealth();
        builder.AddMaasModelHosting();
        builder.AddMaasInference();
        builder.AddMaasOpenAi();
        builder.AddMaasDatasets();
        builder.AddMaasConsole();
        builder.AddMaasTraining();
        builder.AddMaasFineTuning();
        builder.AddMaasOptimization();
        builder.AddMaasDeployments();

        configure?.Invoke(builder);

        var app = builder.Build();
        // The request pipeline, in the order a request passes it (before any endpoint runs).
        app.UseMaasRequestId();
        app.UseMaasAuth();
        app.UseMaasShutdownGate();
        app.UseMaasOpenAiErrors();
        app.UseMaasOllamaErrors();

        // Feature endpoints (one line each).
        app.MapMaasObservability();
        app.MapMaasTenancy();
        app.MapMaasModelHosting();
        app.MapMaasInference();
        app.MapMaasOpenAi();
        app.MapMaasOllama();
        app.MapMaasDatasets();
        app.MapMaasTraining();
        app.MapMaasFineTuning();
        app.MapMaasOptimization();
        app.MapMaasDeployments();
        app.MapMaasRegistry();
        app.MapMaasHealth();
        app.MapMaasConsole();
        return app;
    }
}
