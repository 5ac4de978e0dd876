namespace Maas.Server.Payloads;

/// <summary>Registers the opt-in payload log (<c>Maas:Logging</c>; on only for models whose serving config asks for it).</summary>
public static class PayloadLogExtensions
{
    /// <summary>Adds <see cref="PayloadLog"/> and its options; the inference and OpenAI endpoints ask it per request.</summary>
    public static WebApplicationBuilder AddMaasPayloadLogging(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<PayloadLogOptions>()
            .Bind(builder.Configuration.GetSection(PayloadLogOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<PayloadLog>();
        return builder;
    }
}
