using System.Diagnostics;
using System.Diagnostics.Metrics;
using Maas.Core.Observability;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Maas.Server.Observability;

/// <summary>Metrics exposition, request ids and structured logs.</summary>
public static class ObservabilityExtensions
{
    /// <summary>The header that carries a request id in and out.</summary>
    public const string RequestIdHeader = "X-Request-Id";

    /// <summary>Meters exported on /metrics: ours, the runtime's, and ASP.NET Core's HTTP server meters.</summary>
    public static bool IsExportedMeter(string meterName, bool httpServerMetrics = true) =>
        meterName.StartsWith("Maas", StringComparison.Ordinal)
        || meterName is "System.Runtime"
        || (httpServerMetrics && meterName is "Microsoft.AspNetCore.Hosting" or "Microsoft.AspNetCore.Server.Kestrel");

    /// <summary>Registers the Prometheus exporter, request metrics, the serving telemetry and, when Maas:Logging:Json is on, JSON console logs.</summary>
    public static WebApplicationBuilder AddMaasObservability(this WebApplicationBuilder builder)
    {
        var switches = builder.Configuration.GetSection(ObservabilityOptions.Section).Get<ObservabilityOptions>() ?? new ObservabilityOptions();
        builder.Services.AddOptions<ObservabilityOptions>()
            .Bind(builder.Configuration.GetSection(ObservabilityOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        if (switches.Metrics)
        {
            // A meter made by another app's IMeterFactory (several servers in one test process) is not ours to export.
            builder.Services.AddSingleton(sp =>
            {
                var factory = sp.GetRequiredService<IMeterFactory>();
                var limits = sp.GetRequiredService<IOptions<ObservabilityOptions>>().Value; // validated: ranges are one configuration line each
                return new PrometheusExporter(
                    m => IsExportedMeter(m.Name, switches.HttpServerMetrics) && (m.Scope is null || ReferenceEquals(m.Scope, factory)),
                    limits.MaxSeriesPerMetric,
                    TimeSpan.FromMinutes(limits.SeriesIdleMinutes),
                    sp.GetService<TimeProvider>());
            });
            builder.Services.AddSingleton<RequestMetrics>();
        }

        // This app's meter (its IMeterFactory's "Maas"), so two servers in one process keep their series apart.
        builder.Services.AddSingleton(sp => new ServingTelemetry(
            switches.Metrics ? sp.GetRequiredService<IMeterFactory>().Create(MaasTelemetry.Name) : null,
            switches.Tracing));
        if (builder.Configuration.GetValue("Maas:Logging:Json", false))
        {
            builder.Logging.ClearProviders();
            builder.Logging.AddJsonConsole(o =>
            {
                o.IncludeScopes = true;
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            });
        }

        var otlp = builder.Configuration.GetSection(OtlpOptions.Section).Get<OtlpOptions>() ?? new OtlpOptions();
        // Export is set up while the host is built, before options are validated: its settings are checked here.
        if (otlp.Validate() is { Count: > 0 } problems)
        {
            throw new OptionsValidationException(OtlpOptions.Section, typeof(OtlpOptions), problems);
        }

        if (!string.IsNullOrWhiteSpace(otlp.Endpoint))
        {
            AddOtlpExport(builder, otlp, switches);
        }

        return builder;
    }

    private static void AddOtlpExport(WebApplicationBuilder builder, OtlpOptions otlp, ObservabilityOptions switches)
    {
        var endpoint = new Uri(otlp.Endpoint!, UriKind.Absolute); // checked by OtlpOptions.Validate
        var protocol = otlp.Protocol == "grpc" ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
        var resource = ResourceBuilder.CreateDefault().AddService(otlp.ServiceName);
        void Configure(OtlpExporterOptions o)
        {
            o.Endpoint = endpoint;
            o.Protocol = protocol;
        }

        // The providers live as long as the app; the container disposes them, which flushes on shutdown.
        // ASP.NET Core's "Microsoft.AspNetCore" source makes the request span (parented to the caller's traceparent);
        // ours ("Maas") make its children.
        if (switches.Tracing)
        {
            var traces = Sdk.CreateTracerProviderBuilder()
                .SetResourceBuilder(resource)
                .AddSource(MaasTelemetry.Name, "Microsoft.AspNetCore")
                .AddOtlpExporter(Configure);

            // Out of range fails the start-up validation instead; the default (1) keeps the SDK's parent-based always-on.
            if (switches.TraceSampleRatio is >= 0 and < 1)
            {
                traces.SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(switches.TraceSampleRatio)));
            }

            var tracer = traces.Build();
            builder.Services.AddSingleton(_ => tracer); // made by a factory, so the container disposes it (and flushes)
        }

        if (switches.Metrics)
        {
            var meters = Sdk.CreateMeterProviderBuilder()
                .SetResourceBuilder(resource)
                .AddMeter(switches.HttpServerMetrics
                    ? [MaasTelemetry.Name, "System.Runtime", "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel"]
                    : [MaasTelemetry.Name, "System.Runtime"])
                .AddView(_ => new MetricStreamConfiguration { CardinalityLimit = switches.MaxSeriesPerMetric })
                .AddOtlpExporter((exporter, reader) =>
                {
                    Configure(exporter);
                    reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)(otlp.MetricIntervalSeconds * 1000);
                })
                .Build();
            builder.Services.AddSingleton(_ => meters);
        }
    }

    /// <summary>
    /// The first middleware: gives every request an id (the caller's <c>X-Request-Id</c> when it is safe, else the
    /// trace id), echoes it, and puts it in the scope of every log line written for the request.
    /// </summary>
    public static WebApplication UseMaasRequestId(this WebApplication app)
    {
        // One logger for every request (the factory's lookup takes a lock per call).
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Maas.Request");
        app.Use(async (context, next) =>
        {
            var id = context.Request.Headers[RequestIdHeader].ToString();
            if (id.Length is 0 or > 128 || !id.All(IsSafeIdChar))
            {
                id = Activity.Current?.TraceId.ToString() ?? Guid.NewGuid().ToString("N");
            }

            context.TraceIdentifier = id;
            context.Response.Headers[RequestIdHeader] = id;
            using (logger.BeginScope(new Dictionary<string, object> { ["RequestId"] = id }))
            {
                await next(context);
            }
        });
        return app;
    }

    /// <summary>Maps GET /metrics (each feature starts its own metrics in its MapMaas... call).</summary>
    public static WebApplication MapMaasObservability(this WebApplication app)
    {
        // Touch the exporter so it listens from the first request on, not from the first scrape.
        var exporter = app.Services.GetService<PrometheusExporter>();

        // Resolved once, so the container owns the OTLP providers and disposes them (a last export) on shutdown.
        _ = app.Services.GetService<TracerProvider>();
        _ = app.Services.GetService<MeterProvider>();
        if (exporter is not null)
        {
            app.MapGet("/metrics", () => Results.Text(exporter.Scrape(), "text/plain; version=0.0.4; charset=utf-8"));
        }

        return app;
    }

    private static bool IsSafeIdChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':';
}
