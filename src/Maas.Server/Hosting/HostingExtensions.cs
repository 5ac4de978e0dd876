using Microsoft.Extensions.Options;

namespace Maas.Server.Hosting;

/// <summary>Configuration sources, listen address and the data folder.</summary>
public static class HostingExtensions
{
    /// <summary>The address used when neither --urls nor ASPNETCORE_URLS says otherwise.</summary>
    public const string DefaultUrl = "http://127.0.0.1:8080";

    /// <summary>Adds MAAS_ environment variables and the default listen address.</summary>
    public static WebApplicationBuilder AddMaasHosting(this WebApplicationBuilder builder, string[] args)
    {
        // MAAS_DATA_DIR and friends are the documented names; MAAS_Section__Key reaches any other option.
        builder.Configuration.AddEnvironmentVariables("MAAS_");
        var flat = new Dictionary<string, string?>();
        foreach (var (variable, key) in FlatVariables)
        {
            if (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value)
            {
                flat[key] = value;
            }
        }

        builder.Configuration.AddInMemoryCollection(flat);
        // Command-line values win over the flat variables, as they do over everything else.
        builder.Configuration.AddCommandLine(args);

        if (string.IsNullOrEmpty(builder.Configuration[WebHostDefaults.ServerUrlsKey]))
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }

        // JSON answers read as written (' and < rather than \u0027 and \u003C); see ReadableErrorJson for why it is safe.
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping);
        builder.Services.AddOptions<MaasOptions>()
            .Bind(builder.Configuration.GetSection(MaasOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<MaasOptions>, DataDirValidator>();
        builder.Services.AddSingleton<FirstCallHint>();
        return builder;
    }

    /// <summary>Documented flat environment variables and the option each one sets.</summary>
    public static readonly IReadOnlyList<(string Variable, string Key)> FlatVariables =
    [
        ("MAAS_DATA_DIR", "Maas:DataDir"),
    ];

    private sealed class DataDirValidator : IValidateOptions<MaasOptions>
    {
        public ValidateOptionsResult Validate(string? name, MaasOptions options)
        {
            try
            {
                Directory.CreateDirectory(options.DataDir);
                return ValidateOptionsResult.Success;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
            {
                return ValidateOptionsResult.Fail($"Maas:DataDir (MAAS_DATA_DIR) '{options.DataDir}' cannot be created: {ex.Message}");
            }
        }
    }
}
