using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Maas.Runtimes.Llama.Native;

/// <summary>Routes llama.cpp's and ggml's log lines into Microsoft.Extensions.Logging, and remembers recent errors for exceptions.</summary>
/// <remarks>
/// The callback is an unmanaged function pointer to a static method, so there is no delegate the GC could collect.
/// llama.cpp writes a line in pieces (level CONT continues the previous one): pieces are joined per thread.
/// </remarks>
internal static unsafe class LlamaLogging
{
    private const int RecentErrorCount = 8;

    private static volatile ILogger? logger;
    private static volatile int minimum = (int)LogLevel.Warning;
    private static int installed;

    [ThreadStatic]
    private static StringBuilder? pending;

    [ThreadStatic]
    private static LogLevel pendingLevel;

    [ThreadStatic]
    private static Queue<string>? recentErrors;

    /// <summary>Where lines go (null: warnings and errors to standard error) and the lowest level passed on.</summary>
    public static void Configure(ILogger? target, LogLevel minimumLevel)
    {
        logger = target;
        minimum = (int)minimumLevel;
    }

    public static void Install()
    {
        if (Interlocked.Exchange(ref installed, 1) == 0)
        {
            NativeApi.llama_log_set(&OnLog, IntPtr.Zero);
        }
    }

    /// <summary>Forgets the errors this thread logged so far (call before a native call whose failure you will report).</summary>
    public static void BeginCapture() => recentErrors?.Clear();

    /// <summary>The error lines this thread logged since <see cref="BeginCapture"/>, joined; empty when none.</summary>
    public static string TakeErrors()
    {
        Flush();
        if (recentErrors is not { Count: > 0 })
        {
            return string.Empty;
        }

        var text = string.Join(" | ", recentErrors);
        recentErrors.Clear();
        return text;
    }

    // llama's INFO is a chatty per-load dump (every tensor, every key): it maps to Debug, and DEBUG to Trace.
    private static LogLevel Map(GgmlLogLevel level) => level switch
    {
        GgmlLogLevel.Error => LogLevel.Error,
        GgmlLogLevel.Warn => LogLevel.Warning,
        GgmlLogLevel.Info => LogLevel.Debug,
        _ => LogLevel.Trace,
    };

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnLog(GgmlLogLevel level, byte* text, IntPtr userData)
    {
        try
        {
            var mapped = level == GgmlLogLevel.Continue ? pendingLevel : Map(level);
            if (level != GgmlLogLevel.Continue)
            {
                Flush();
                pendingLevel = mapped;
            }

            // Cheap exit for the many lines nobody will read; errors are always kept for exception messages.
            if ((int)mapped < minimum && mapped != LogLevel.Error)
            {
                return;
            }

            var piece = Marshal.PtrToStringUTF8((IntPtr)text) ?? string.Empty;
            (pending ??= new StringBuilder()).Append(piece);
            if (piece.EndsWith('\n'))
            {
                Flush();
            }
        }
        catch
        {
            // Logging must never unwind into native code.
        }
    }

    private static void Flush()
    {
        if (pending is not { Length: > 0 })
        {
            return;
        }

        var line = pending.ToString().TrimEnd('\n', '\r', ' ');
        pending.Clear();
        if (line.Length == 0)
        {
            return;
        }

        if (pendingLevel == LogLevel.Error)
        {
            var queue = recentErrors ??= new Queue<string>();
            if (queue.Count == RecentErrorCount)
            {
                queue.Dequeue();
            }

            queue.Enqueue(line);
        }

        if ((int)pendingLevel < minimum)
        {
            return;
        }

        var target = logger;
        if (target is null)
        {
            Console.Error.WriteLine($"llama.cpp {pendingLevel}: {line}");
        }
        else if (target.IsEnabled(pendingLevel))
        {
            target.Log(pendingLevel, "{LlamaMessage}", line);
        }
    }
}
