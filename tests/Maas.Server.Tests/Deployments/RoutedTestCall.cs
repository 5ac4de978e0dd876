using Maas.Server.Deployments;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Maas.Server.Tests.Deployments;

/// <summary>A call routed on the server's own router, whose response completes when the test says.</summary>
internal sealed class RoutedTestCall : HttpResponseFeature
{
    private readonly List<(Func<object, Task> Callback, object State)> _completed = [];

    public static RoutedTestCall Route(DeploymentRouter router, string model)
    {
        var call = new RoutedTestCall();
        var context = new DefaultHttpContext();
        context.Features.Set<IHttpResponseFeature>(call);
        Assert.NotNull(router.Route(context, model));
        return call;
    }

    public override void OnCompleted(Func<object, Task> callback, object state)
    {
        lock (_completed)
        {
            _completed.Add((callback, state));
        }
    }

    // As the server does once a response has ended: the callbacks, last registered first.
    public async Task Complete()
    {
        (Func<object, Task> Callback, object State)[] callbacks;
        lock (_completed)
        {
            callbacks = [.. _completed];
        }

        for (var i = callbacks.Length - 1; i >= 0; i--)
        {
            await callbacks[i].Callback(callbacks[i].State);
        }
    }
}
