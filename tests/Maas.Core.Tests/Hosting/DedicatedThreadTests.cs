using Maas.Core.Hosting;

namespace Maas.Core.Tests.Hosting;

/// <summary>Blocking work on a thread of its own: its result and its failure reach the caller.</summary>
public sealed class DedicatedThreadTests
{
    [Fact]
    public async Task The_work_runs_on_a_named_thread_outside_the_pool_and_its_result_completes_the_task()
    {
        var (name, onPool) = await DedicatedThread.Run("maas-test", () => (Thread.CurrentThread.Name, Thread.CurrentThread.IsThreadPoolThread));
        Assert.Equal("maas-test", name);
        Assert.False(onPool);
    }

    [Fact]
    public async Task An_exception_of_the_work_is_the_task_s_exception()
    {
        var error = await Assert.ThrowsAsync<InvalidDataException>(() => DedicatedThread.Run<int>("maas-test", () => throw new InvalidDataException("not a model")));
        Assert.Equal("not a model", error.Message);
    }
}
