using System.Runtime.InteropServices;

namespace Maas.Runtimes.Onnx.Native;

/// <summary>The logging function ONNX Runtime calls; forwards each message to a managed sink.</summary>
/// <remarks>
/// The callback is a static <see cref="UnmanagedCallersOnlyAttribute"/> method: its address is fixed for the life of
/// the process, so no delegate can be collected while the environment still calls it (the classic callback-lifetime bug).
/// </remarks>
internal static unsafe class OrtLogging
{
    /// <summary>Receives (severity, category, log id, code location, message); swapped when logging is reconfigured.</summary>
    public static volatile Action<int, string, string, string, string>? Sink;

    /// <summary>The address passed to CreateEnvWithCustomLogger.</summary>
    public static delegate* unmanaged<IntPtr, int, byte*, byte*, byte*, byte*, void> Callback => &Log;

    [UnmanagedCallersOnly]
    private static void Log(IntPtr param, int severity, byte* category, byte* logId, byte* codeLocation, byte* message)
    {
        try
        {
            Sink?.Invoke(severity, Utf8.Read(category) ?? "", Utf8.Read(logId) ?? "", Utf8.Read(codeLocation) ?? "", Utf8.Read(message) ?? "");
        }
#pragma warning disable CA1031 // An exception must never unwind into native frames: that would crash the process.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }
}
