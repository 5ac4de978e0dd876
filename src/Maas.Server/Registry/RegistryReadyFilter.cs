namespace Maas.Server.Registry;

/// <summary>Holds a route group's requests until the registry has migrated and recovered, instead of failing them.</summary>
internal static class RegistryReadyFilter
{
    /// <summary>Adds the wait to every endpoint of <paramref name="group"/>; the registry's start-up is resolved once, here.</summary>
    public static RouteGroupBuilder WaitForRegistry(this RouteGroupBuilder group)
    {
        var startup = ((IEndpointRouteBuilder)group).ServiceProvider.GetRequiredService<RegistryStartup>();
        group.AddEndpointFilter(async (invocation, next) =>
        {
            var ready = startup.Ready;
            if (!ready.IsCompletedSuccessfully)
            {
                await ready.WaitAsync(invocation.HttpContext.RequestAborted);
            }

            return await next(invocation);
        });
        return group;
    }
}
