using Microsoft.Extensions.Options;

namespace Maas.Server.Hosting;

/// <summary>
/// Checks the configuration before the server starts, so that a bad setting ends the start with one line per problem
/// (each naming its key) rather than the host's stack trace.
/// </summary>
public static class ConfigurationErrors
{
    /// <summary>The exit code of a start refused for bad configuration.</summary>
    public const int ExitCode = 2;

    /// <summary>Binds and validates every option checked at start-up; throws what <see cref="Describe"/> reads.</summary>
    public static void Validate(IServiceProvider services)
    {
        if (services.GetService<IConfiguration>() is { } configuration && ListSettingsCheck.Problems(configuration) is { Count: > 0 } lists)
        {
            throw new OptionsValidationException(MaasOptions.Section, typeof(IConfiguration), lists);
        }

        services.GetService<IStartupValidator>()?.Validate();
    }

    /// <summary>
    /// The configuration problems an exception reports, one line each naming its key; null when it is about
    /// something else (then it goes up as it is).
    /// </summary>
    public static List<string>? Describe(Exception exception)
    {
        var problems = new List<string>();
        foreach (var ex in exception is AggregateException all ? all.Flatten().InnerExceptions : [exception])
        {
            switch (ex)
            {
                case OptionsValidationException invalid:
                    problems.AddRange(invalid.Failures.SelectMany(f => f.Split("; ", StringSplitOptions.RemoveEmptyEntries)));
                    break;
                case InvalidOperationException { InnerException: { } inner } unreadable
                    when inner is FormatException or ArgumentException or NotSupportedException
                        && unreadable.Message.StartsWith("Failed to convert configuration value", StringComparison.Ordinal):
                    // The binder's message names the value, the key and the type; the inner one says what is wrong.
                    problems.Add($"{unreadable.Message} {inner.Message}");
                    break;
                case IOException { InnerException: Microsoft.AspNetCore.Connections.AddressInUseException } inUse:
                    // Kestrel's message names the address; a second server on the same port is the usual cause.
                    problems.Add($"urls: {inUse.Message.TrimEnd('.')}; stop what listens there (another MaaS server?) or choose another address with urls " +
                        $"(ASPNETCORE_URLS, --urls)");
                    break;
                default:
                    return null;
            }
        }

        return problems;
    }
}
