using Maas.Server.Auth;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;

namespace Maas.Server.Hosting;

/// <summary>
/// The parts of the first-start "Try: curl ..." lines: the address the server really listens on and the
/// Authorization header every route needs, so the suggested command answers 200 rather than 401.
/// </summary>
internal sealed class FirstCallHint(IOptions<AuthOptions> auth, IOptions<MaasOptions> maas, IServer? server = null)
{
    /// <summary>The first listening address without a trailing slash (the default one before the listener is up).</summary>
    public string Address() =>
        (server?.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? "http://127.0.0.1:8080").TrimEnd('/');

    /// <summary>
    /// A curl header with the admin key: read from the generated admin-key file, or from MAAS_ADMIN_KEY when the key
    /// was configured (then there is no file). The key itself is never logged.
    /// </summary>
    public string AuthorizationHeader()
    {
        if (auth.Value.AdminKey is { Length: > 0 })
        {
            return "-H \"Authorization: Bearer $MAAS_ADMIN_KEY\"";
        }

        var file = auth.Value.AdminKeyFile ?? Path.Combine(maas.Value.DataDir, "admin-key");
        return $"-H \"Authorization: Bearer $(cat '{Path.GetFullPath(file).Replace("'", "'\\''", StringComparison.Ordinal)}')\"";
    }
}
