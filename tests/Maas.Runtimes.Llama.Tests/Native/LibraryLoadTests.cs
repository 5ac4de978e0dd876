using Maas.Core.Hosting;
using Maas.Runtimes.Llama.Native.Load;

namespace Maas.Runtimes.Llama.Tests.Native;

public sealed class LibraryLoadTests
{
    [Fact]
    public void The_pinned_libraries_are_found_in_the_engine_folder()
    {
        var folder = NativeEngineDirectory.Resolve(LlamaLibrary.Engine, LlamaLibrary.PinnedVersion);

        Assert.Equal(folder, LlamaBackend.LibraryDirectory);
        foreach (var name in new[] { LlamaLibrary.Llama, LlamaLibrary.Ggml, LlamaLibrary.GgmlBase })
        {
            Assert.True(File.Exists(LlamaLibrary.Locate(folder, name)));
        }
    }

    [Fact]
    public void A_folder_without_the_engine_gives_a_message_that_says_what_to_do()
    {
        var empty = Directory.CreateTempSubdirectory("maas-no-llama-").FullName;
        try
        {
            var error = Assert.Throws<DllNotFoundException>(() => LlamaLibrary.Locate(empty, LlamaLibrary.Llama));

            Assert.Contains("libllama.v0.5.0.so", error.Message);
            Assert.Contains(empty, error.Message);
            Assert.Contains(NativeEngineDirectory.OverrideVariable, error.Message);
        }
        finally
        {
            Directory.Delete(empty);
        }
    }
}
