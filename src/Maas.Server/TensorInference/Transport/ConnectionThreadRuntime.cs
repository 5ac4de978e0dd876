namespace Maas.Server.TensorInference.Transport;

/// <summary>
/// The runtime setting that goes with the threads transport: a thread-pool worker that runs out of work spins (yielding
/// the CPU up to 70 times) before it sleeps, which pays off when work items follow each other closely, as with Kestrel's
/// sockets. With a thread per connection the pool runs about one work item per request (the handler's continuation
/// after the engine), so every such spin is CPU taken from the engine on the same cores: the pool does not spin then.
/// The runtime reads the setting once, when its first worker starts, so it is set before the host is built; an explicit
/// DOTNET_ThreadPool_UnfairSemaphoreSpinLimit (or a runtimeconfig value) wins.
/// </summary>
internal static class ConnectionThreadRuntime
{
    private const string SpinLimit = "System.Threading.ThreadPool.UnfairSemaphoreSpinLimit";

    public static void Prepare(string[] args)
    {
        if (SpinLimitToSet(args, Environment.GetEnvironmentVariable("DOTNET_ThreadPool_UnfairSemaphoreSpinLimit"), AppContext.GetData(SpinLimit)) is { } limit)
        {
            AppContext.SetData(SpinLimit, limit);
        }
    }

    /// <summary>The spin limit to set for these arguments (null: leave the runtime's), given what the environment and the runtime config already say.</summary>
    internal static string? SpinLimitToSet(string[] args, string? environmentValue, object? configuredValue)
    {
        var transport = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true, reloadOnChange: false)
            .AddEnvironmentVariables()
            .AddCommandLine(args)
            .Build()[$"{InferenceOptions.Section}:{nameof(InferenceOptions.HttpTransport)}"];
        return transport == "threads" && environmentValue is null && configuredValue is null ? "0" : null;
    }
}
