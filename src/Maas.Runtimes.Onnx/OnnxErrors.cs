using System.Text.RegularExpressions;
using Ort = Microsoft.ML.OnnxRuntime;

namespace Maas.Runtimes.Onnx;

/// <summary>Turns the managed API's exceptions into <see cref="OnnxRuntimeException"/>s with ONNX Runtime's code and message.</summary>
internal static partial class OnnxErrors
{
    /// <summary>Runs <paramref name="call"/>, translating the managed API's exception.</summary>
    public static void Call(Action call)
    {
        try
        {
            call();
        }
        catch (Ort.OnnxRuntimeException e)
        {
            throw Translate(e);
        }
    }

    /// <summary>Runs <paramref name="call"/>, translating the managed API's exception.</summary>
    public static T Call<T>(Func<T> call)
    {
        try
        {
            return call();
        }
        catch (Ort.OnnxRuntimeException e)
        {
            throw Translate(e);
        }
    }

    /// <summary>The managed API puts the code in its message as "[ErrorCode:Name] message"; this splits them again.</summary>
    public static OnnxRuntimeException Translate(Ort.OnnxRuntimeException e)
    {
        var match = CodePrefix().Match(e.Message);
        if (!match.Success)
        {
            return new OnnxRuntimeException(OnnxRuntimeErrorCode.Fail, e.Message, e);
        }

        var code = Enum.TryParse<OnnxRuntimeErrorCode>(match.Groups[1].Value, out var parsed) ? parsed : OnnxRuntimeErrorCode.Fail;
        return new OnnxRuntimeException(code, e.Message[match.Length..], e);
    }

    [GeneratedRegex(@"^\[ErrorCode:(\w+)\] ?")]
    private static partial Regex CodePrefix();
}
