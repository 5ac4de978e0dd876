using Maas.Testing;
using Microsoft.Extensions.Logging;

namespace Maas.Runtimes.Llama.Tests;

[Collection(LlamaCollection.Name)]
public sealed class LoggingTests(LlamaTestModels models)
{
    [Fact]
    public void Native_log_lines_reach_the_configured_logger_at_or_above_its_level()
    {
        var sink = new CapturedLogs();
        LlamaBackend.ConfigureLogging(sink.Single(), LogLevel.Debug);
        try
        {
            using (var model = LlamaModel.Load(models.GeneratedPathEnsured()))
            {
            }

            var broken = Path.Combine(models.Folder, "log-broken.gguf");
            File.WriteAllText(broken, "GGUF but not really");
            Assert.Throws<LlamaException>(() => LlamaModel.Load(broken));
        }
        finally
        {
            LlamaBackend.ConfigureLogging((ILogger?)null, LogLevel.Warning);
        }

        var lines = sink.Lines.ToList();
        Assert.Contains(lines, l => l.Level == LogLevel.Debug && l.Message.Contains("llama", StringComparison.OrdinalIgnoreCase));
        Assert.Contains(lines, l => l.Level == LogLevel.Error);
        Assert.DoesNotContain(lines, l => l.Level < LogLevel.Debug);
        Assert.DoesNotContain(lines, l => l.Message.EndsWith('\n'));
    }
}
