using System.Text.RegularExpressions;

namespace Maas.Core.Hosting;

/// <summary>
/// An engine's error text as callers may read it: engines name the files they failed on (ONNX Runtime's "Load model from
/// /var/lib/maas/artifacts/... failed"), and the server's folders are not the caller's business.
/// </summary>
public static partial class EngineMessages
{
    /// <summary>The text with every absolute path of two or more segments replaced by "(the model's file)".</summary>
    public static string WithoutPaths(string message) => AbsolutePath().Replace(message, "(the model's file)");

    [GeneratedRegex(@"(?<![\w/.])/(?:[^\s'""/:]+/)+[^\s'"":,;)]*")]
    private static partial Regex AbsolutePath();
}
