using System.Globalization;
using System.Text;
using Maas.Core.TensorServing;
using Maas.Server.Auth;
using Microsoft.Extensions.Options;

namespace Maas.Server.Payloads;

/// <summary>
/// Logs what callers sent and what models answered, for the models whose serving configuration says
/// <c>log_payloads: true</c> and for no others: payloads may hold personal data, so the default is never.
/// Entries go to the <c>Maas.Payloads</c> category, one per request and direction, cut at <c>Maas:Logging:PayloadMaxChars</c>.
/// </summary>
public sealed class PayloadLog(ModelDirectory models, ILoggerFactory loggers, IOptions<PayloadLogOptions> options)
{
    /// <summary>The log category of payload entries.</summary>
    public const string Category = "Maas.Payloads";

    private const int ValuesPerTensor = 64;

    private readonly ILogger _log = loggers.CreateLogger(Category);
    private readonly int _maxChars = options.Value.PayloadMaxChars;

    /// <summary>True when the model's payloads are to be logged (the answer is cached with the model's access entry).</summary>
    public ValueTask<bool> IsOnAsync(string model, CancellationToken cancellationToken) =>
        _log.IsEnabled(LogLevel.Information) ? models.LogsPayloadsAsync(model, cancellationToken) : ValueTask.FromResult(false);

    /// <summary>The payload log when <paramref name="model"/>'s payloads are to be logged, else null.</summary>
    public static async ValueTask<PayloadLog?> ForAsync(PayloadLog? log, HttpContext context, string model) =>
        log is not null && await log.IsOnAsync(model, context.RequestAborted).ConfigureAwait(false) ? log : null;

    /// <summary>Logs one direction ("request" or "response") of a call.</summary>
    public void Write(HttpContext context, string model, string direction, string payload)
    {
        var text = payload.Length <= _maxChars ? payload : string.Concat(payload.AsSpan(0, _maxChars), $"... ({payload.Length} chars)");
        _log.LogInformation("Payload {Direction} of {Model} for request {RequestId}: {Payload}", direction, model, context.TraceIdentifier, text);
    }

    /// <summary>Tensors as the log shows them: name, datatype, shape and the first values.</summary>
    public static string Describe(IEnumerable<Tensor> tensors)
    {
        var s = new StringBuilder();
        foreach (var t in tensors)
        {
            s.Append(s.Length == 0 ? "" : "; ").Append(t).Append(" = [");
            var values = Values(t);
            s.Append(string.Join(", ", values));
            s.Append(t.ElementCount > values.Count ? ", ...]" : "]");
        }

        return s.ToString();
    }

    private static List<string> Values(Tensor t)
    {
        var n = (int)Math.Min(t.ElementCount, ValuesPerTensor);
        var c = CultureInfo.InvariantCulture;
        return t.DataType switch
        {
            TensorDataType.Bytes => t.GetStrings().Take(n).Select(v => "\"" + v + "\"").ToList(),
            TensorDataType.Bool => Take<byte>(t, n, v => v != 0 ? "true" : "false"),
            TensorDataType.UInt8 => Take<byte>(t, n, v => v.ToString(c)),
            TensorDataType.Int8 => Take<sbyte>(t, n, v => v.ToString(c)),
            TensorDataType.UInt16 => Take<ushort>(t, n, v => v.ToString(c)),
            TensorDataType.Int16 => Take<short>(t, n, v => v.ToString(c)),
            TensorDataType.UInt32 => Take<uint>(t, n, v => v.ToString(c)),
            TensorDataType.Int32 => Take<int>(t, n, v => v.ToString(c)),
            TensorDataType.UInt64 => Take<ulong>(t, n, v => v.ToString(c)),
            TensorDataType.Int64 => Take<long>(t, n, v => v.ToString(c)),
            TensorDataType.FP16 => Take<Half>(t, n, v => ((float)v).ToString("G6", c)),
            TensorDataType.FP32 => Take<float>(t, n, v => v.ToString("G7", c)),
            TensorDataType.FP64 => Take<double>(t, n, v => v.ToString("G15", c)),
            _ => [],
        };
    }

    private static List<string> Take<T>(Tensor t, int n, Func<T, string> format)
        where T : unmanaged
    {
        var span = t.AsSpan<T>();
        var list = new List<string>(n);
        for (var i = 0; i < n && i < span.Length; i++)
        {
            list.Add(format(span[i]));
        }

        return list;
    }
}
