using Maas.Core.Hosting;

namespace Maas.Core.Tests;

public class NativeEngineDirectoryTests
{
    [Fact]
    public void CacheFolderIsPerEngineVersionAndPlatform()
    {
        var dir = NativeEngineDirectory.Resolve("onnxruntime", "1.30.0");
        if (Environment.GetEnvironmentVariable(NativeEngineDirectory.OverrideVariable) is { Length: > 0 } own)
        {
            Assert.Equal(own, dir);
            return;
        }

        Assert.StartsWith(NativeEngineDirectory.CacheRoot(), dir);
        Assert.EndsWith(Path.Combine("onnxruntime-1.30.0", System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier), dir);
    }
}
