using Maas.Runtimes.Llama.Training;

namespace Maas.Runtimes.Llama.Tests.Training;

/// <summary>
/// Fine-tuning computes on exactly the threads it is given, so a capped job leaves the other cores to serving: the
/// threads ggml starts inherit the name of the thread that runs the training, and are counted by that name in /proc
/// while it trains.
/// </summary>
[Collection(LlamaCollection.Name)]
public sealed class TrainingThreadsTests(LlamaTestModels models)
{
    [Fact]
    public void Training_computes_on_the_configured_number_of_threads_and_no_more()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // thread names are read from /proc on Linux only
        }

        _ = models.Generated;
        Assert.Equal(1, MostThreadsWhileTraining(threads: 1, "ft-threads-one"));

        // The control: given two, it does use two, so the count above can tell the difference.
        Assert.Equal(2, MostThreadsWhileTraining(threads: 2, "ft-threads-two"));
    }

    // Trains on a thread of a known name (at most 15 characters, the kernel's limit) and returns the largest number of
    // the process's threads seen with that name while it trained.
    private int MostThreadsWhileTraining(int threads, string name)
    {
        var most = 0;
        var training = true;
        Exception? failed = null;
        var trainer = new Thread(() =>
        {
            try
            {
                LlamaFineTuner.Run(
                    models.GeneratedPath,
                    FineTuneTests.PatternChats(48, seed: 11),
                    [],
                    new LlamaFineTuneOptions { Epochs = 2, LearningRate = 1e-3f, Window = 256, Threads = threads, WorkFolder = Path.Combine(models.Folder, name) });
            }
            catch (Exception e)
            {
                failed = e;
            }
            finally
            {
                Volatile.Write(ref training, false);
            }
        })
        { Name = name };
        trainer.Start();
        while (Volatile.Read(ref training))
        {
            most = Math.Max(most, ThreadsNamed(name));
            Thread.Yield(); // leaves the cores to the training between looks
        }

        trainer.Join();
        Assert.Null(failed);
        return most;
    }

    private static int ThreadsNamed(string name)
    {
        var count = 0;
        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            try
            {
                if (File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n') == name)
                {
                    count++;
                }
            }
            catch (IOException)
            {
                // The thread ended while it was read.
            }
        }

        return count;
    }
}
