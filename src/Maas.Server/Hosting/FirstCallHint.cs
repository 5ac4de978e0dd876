using Maas.Server.Auth;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;

namespace Maas.Server.Hosting;

/// <summary>
/// The parts of the first-start "Try: curl ..." lines: the address the server really listens on and the
/// Authorization header every route needs, so the suggested command answers 200 rather than 401.
/// </summary>
internal static class FirstCallHint
{
    /// <summary>The first listening address without a trailing slash (the default one before the listener is up).</summary>
    public static string Address(IServiceProvider services) =>
        (services.GetService<IServer>()?.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? "http://127.0.0.1:8080").TrimEnd('/');

    /// <summary>
    /// A curl header with the admin key: read from the generated admin-key file, or from MAAS_ADMIN_KEY when the key
    /// was configured (then there is no file). The key itself is never logged.
    /// </summary>
    public static string AuthorizationHeader(IServiceProvider services)
    {
        var auth = services.GetRequiredService<IOptions<AuthOptions>>().Value;
        if (auth.AdminKey is { Length: > 0 })
        {
            return "-H \"Authorization: Bearer $MAAS_ADMIN_KEY\"";
        }

        var file = auth.AdminKeyFile ?? Path.Combine(services.GetRequiredService<IOptions<MaasOptions>>().Value.DataDir, "admin-key");
        return $"-H \"Authorization: Bearer $(cat '{Path.GetFullPath(file).Replace("'", "'\\''", StringComparison.Ordinal)}')\"";
    }
}
