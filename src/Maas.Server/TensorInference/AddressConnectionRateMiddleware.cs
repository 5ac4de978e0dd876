using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Text;
using Maas.Server.Auth;
using Microsoft.AspNetCore.Connections;

namespace Maas.Server.TensorInference;

/// <summary>
/// The HTTP listener's first step for each connection: a connection over its address's rate
/// (<see cref="AddressConnectionRate"/>) gets a 429 with Retry-After in the error format of the route its first request
/// names, and is closed without its request being parsed, authenticated or read further. A TLS or HTTP/2
/// prior-knowledge connection, which cannot be answered before its handshake, is closed at once.
/// </summary>
public sealed class AddressConnectionRateMiddleware(ConnectionDelegate next, AddressConnectionRate rate, InferenceOptions options)
{
    // The most the refusal waits for the client's first bytes (to pick the error format): a client that sends nothing
    // is closed after it.
    private static readonly TimeSpan FirstBytesWait = TimeSpan.FromSeconds(1);

    /// <summary>Runs for every new connection.</summary>
    public async Task OnConnectionAsync(ConnectionContext connection)
    {
        if (connection.RemoteEndPoint is not IPEndPoint remote || rate.TryAdmit(remote.Address))
        {
            await next(connection);
            return;
        }

        var input = connection.Transport.Input;
        ReadResult read;
        using (var wait = new CancellationTokenSource(FirstBytesWait))
        {
            try
            {
                read = await input.ReadAsync(wait.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }

        var style = StyleOf(read.Buffer);
        input.AdvanceTo(read.Buffer.End);
        if (style is { } s)
        {
            await connection.Transport.Output.WriteAsync(Refusal(s, rate.RetryAfterSeconds(remote.Address)));
        }
    }

    /// <summary>
    /// The error format for the first bytes of a connection: from the path of an HTTP/1.x request line; null for a TLS
    /// handshake, HTTP/2's preface or anything else that is not a request line.
    /// </summary>
    public static ErrorStyle? StyleOf(ReadOnlySequence<byte> first)
    {
        Span<byte> head = stackalloc byte[(int)Math.Min(first.Length, 512)];
        first.Slice(0, head.Length).CopyTo(head);
        var method = head.IndexOf((byte)' ');
        if (method <= 0 || !IsToken(head[..method]) || head.StartsWith("PRI "u8))
        {
            return null;
        }

        var target = head[(method + 1)..];
        var end = target.IndexOfAny((byte)' ', (byte)'?');
        var path = Encoding.ASCII.GetString(end < 0 ? target : target[..end]);
        return path.StartsWith('/') ? AuthErrors.StyleOf(new PathString(path)) : ErrorStyle.Management;
    }

    private static bool IsToken(ReadOnlySpan<byte> method)
    {
        foreach (var b in method)
        {
            if (b is < (byte)'A' or > (byte)'Z')
            {
                return false;
            }
        }

        return true;
    }

    private byte[] Refusal(ErrorStyle style, int retryAfter)
    {
        var failure = new AuthFailure(
            StatusCodes.Status429TooManyRequests,
            "connection_rate_limited",
            string.Create(
                CultureInfo.InvariantCulture,
                $"too many new connections from this address (Maas:Inference:HttpConnectionsPerSecondPerAddress = {options.HttpConnectionsPerSecondPerAddress}, " +
                $"HttpConnectionBurstPerAddress = {options.HttpConnectionBurstPerAddress}); keep connections open, or try again in {retryAfter} s"),
            RetryAfter: TimeSpan.FromSeconds(retryAfter));
        var body = AuthErrors.Body(style, failure);
        var head = string.Create(
            CultureInfo.InvariantCulture,
            $"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nRetry-After: {retryAfter}\r\nConnection: close\r\n\r\n");
        return [.. Encoding.ASCII.GetBytes(head), .. body];
    }
}
