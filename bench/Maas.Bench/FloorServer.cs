using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Maas.Core.TensorServing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Maas.Bench;

/// <summary>
/// The floor of serving a binary tensor over HTTP on this host, for the ultraface-cpu scenario (--floor): a child
/// process with the same engine code as the in-process side (<see cref="EngineWorker"/>) behind the smallest HTTP/1.1
/// server that answers the benchmark's requests. A blocking thread per connection receives the head, then the binary
/// tensor straight into the pooled input buffer (the kernel's copy only: no pipe, no second copy), waits for the
/// scheduler, and sends the outputs with one gathered send. No authentication, limits, usage, metrics, logging or
/// thread-pool hops on the request path: what this process costs beyond its engine is what any HTTP server must pay
/// here (the receives, the wake-ups, the response), so it bounds how close MaaS's server can come.
/// Not a server for anything but this measurement: it trusts its one client's requests.
/// </summary>
internal static class FloorServer
{
    public const string Mode = "serve-floor";
    public const string ModelName = "floor";

    /// <summary>The child's entry: <c>serve-floor model.onnx threads</c>; prints READY and the port, serves until stdin closes.</summary>
    public static async Task ServeAsync(string[] args)
    {
        var threads = int.Parse(args[1], CultureInfo.InvariantCulture);
        await using var engine = new EngineWorker(args[0], threads, "input", [1, 3, 240, 320], [], ModelName);
        if (args.Length > 2 && args[2] == "kestrel")
        {
            await ServeKestrelAsync(engine);
            return;
        }

        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(64);
        var acceptor = new Thread(() =>
        {
            while (true)
            {
                Socket connection;
                try
                {
                    connection = listener.Accept();
                }
                catch (SocketException)
                {
                    return; // the listener closed
                }
                catch (ObjectDisposedException)
                {
                    return;
                }

                connection.NoDelay = true;
                new Thread(() => Serve(connection, engine)) { IsBackground = true, Name = "floor-conn" }.Start();
            }
        })
        { IsBackground = true, Name = "floor-accept" };
        acceptor.Start();
        Console.WriteLine($"READY {((IPEndPoint)listener.LocalEndPoint!).Port}");
        await Console.In.ReadToEndAsync(); // the parent closes stdin to stop us
    }

    // The same requests through Kestrel with its defaults (socket transport, pipes, the thread pool) and one endpoint,
    // no middleware: what Kestrel itself costs over the blocking floor, apart from MaaS's own request pipeline.
    private static async Task ServeKestrelAsync(EngineWorker engine)
    {
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        app.MapPost("/v2/models/{name}/infer", async (Microsoft.AspNetCore.Http.HttpContext context) =>
        {
            var jsonLength = int.Parse(context.Request.Headers["Inference-Header-Content-Length"].ToString(), CultureInfo.InvariantCulture);
            var json = new byte[jsonLength];
            await context.Request.Body.ReadExactlyAsync(json);
            var buffer = PooledBuffer.Rent((int)(context.Request.ContentLength!.Value - jsonLength));
            await context.Request.Body.ReadExactlyAsync(buffer.Memory);
            var request = new InferenceRequest { Inputs = [Tensor.Wrap("input", TensorDataType.FP32, [1, 3, 240, 320], buffer.Memory, buffer)] };
            using var response = await engine.InferAsync(request, context.RequestAborted);
            var (head, binary) = ResponseHeader(response);
            context.Response.ContentType = "application/octet-stream";
            context.Response.Headers["Inference-Header-Content-Length"] = head.Length.ToString(CultureInfo.InvariantCulture);
            context.Response.ContentLength = head.Length + binary;
            await context.Response.Body.WriteAsync(head);
            foreach (var output in response.Outputs)
            {
                await context.Response.Body.WriteAsync(output.Data);
            }
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>().Features
            .Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses.First();
        Console.WriteLine($"READY {new Uri(address).Port}");
        await Console.In.ReadToEndAsync();
        await app.StopAsync();
    }

    /// <summary>Starts the floor server as a child of this benchmark; disposing it stops the child.</summary>
    public static async Task<FloorProcess> StartAsync(string modelPath, int threads, bool kestrel = false)
    {
        var info = new System.Diagnostics.ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardInput = true, RedirectStandardOutput = true };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet")
        {
            info.ArgumentList.Add(typeof(FloorServer).Assembly.Location);
        }

        foreach (var a in new[] { Mode, modelPath, threads.ToString(CultureInfo.InvariantCulture), kestrel ? "kestrel" : "blocking" })
        {
            info.ArgumentList.Add(a);
        }

        var process = System.Diagnostics.Process.Start(info)!;
        var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
        if (line is null || !line.StartsWith("READY ", StringComparison.Ordinal))
        {
            process.Kill();
            throw new InvalidOperationException($"the floor server did not start: {line}");
        }

        return new FloorProcess(process, new Uri($"http://127.0.0.1:{line[6..]}/"));
    }

    internal sealed class FloorProcess(System.Diagnostics.Process process, Uri http) : IAsyncDisposable
    {
        public Uri Http { get; } = http;

        public int Pid => process.Id;

        public async ValueTask DisposeAsync()
        {
            process.StandardInput.Close();
            try
            {
                await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (TimeoutException)
            {
                process.Kill();
            }

            process.Dispose();
        }
    }

    private static void Serve(Socket socket, EngineWorker engine)
    {
        var head = new byte[16 * 1024];
        var filled = 0;
        try
        {
            while (true)
            {
                int end;
                while ((end = head.AsSpan(0, filled).IndexOf("\r\n\r\n"u8)) < 0)
                {
                    var n = socket.Receive(head, filled, head.Length - filled, SocketFlags.None);
                    if (n == 0)
                    {
                        return;
                    }

                    filled += n;
                }

                var text = Encoding.ASCII.GetString(head, 0, end);
                var contentLength = Header(text, "content-length");
                var jsonLength = (int)Header(text, "inference-header-content-length");
                var bodyStart = end + 4;
                var json = new byte[jsonLength];
                var inHead = Math.Min(filled - bodyStart, jsonLength);
                head.AsSpan(bodyStart, inHead).CopyTo(json);
                ReceiveExactly(socket, json.AsSpan(inHead));
                var tensorBytes = (int)(contentLength - jsonLength);
                var buffer = PooledBuffer.Rent(tensorBytes);
                var leftover = Math.Max(0, filled - bodyStart - jsonLength);
                head.AsSpan(bodyStart + jsonLength, Math.Min(leftover, tensorBytes)).CopyTo(buffer.Span);
                ReceiveExactly(socket, buffer.Span[Math.Min(leftover, tensorBytes)..]);
                filled = 0; // a keep-alive client sends its next request after this one's answer

                var request = new InferenceRequest { Inputs = [Tensor.Wrap("input", TensorDataType.FP32, [1, 3, 240, 320], buffer.Memory, buffer)] };
                using var response = engine.InferAsync(request, CancellationToken.None).GetAwaiter().GetResult();
                Respond(socket, response);
            }
        }
        catch (SocketException)
        {
            // the client went away
        }
        finally
        {
            socket.Dispose();
        }
    }

    // The v2 response's JSON part for binary outputs, and the outputs' byte count.
    private static (byte[] Json, int Binary) ResponseHeader(InferenceResponse response)
    {
        var json = new StringBuilder("{\"model_name\":\"ultraface\",\"model_version\":\"1\",\"outputs\":[");
        var binary = 0;
        foreach (var output in response.Outputs)
        {
            json.Append(binary == 0 ? "" : ",").Append("{\"name\":\"").Append(output.Name).Append("\",\"datatype\":\"FP32\",\"shape\":[")
                .Append(string.Join(',', output.Shape)).Append("],\"parameters\":{\"binary_data_size\":").Append(output.Data.Length).Append("}}");
            binary += output.Data.Length;
        }

        return (Encoding.UTF8.GetBytes(json.Append("]}").ToString()), binary);
    }

    private static void Respond(Socket socket, InferenceResponse response)
    {
        var (jsonBytes, binary) = ResponseHeader(response);
        var headBytes = Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nInference-Header-Content-Length: {jsonBytes.Length}\r\nContent-Length: " +
            $"{jsonBytes.Length + binary}\r\n\r\n"));
        var segments = new List<ArraySegment<byte>> { headBytes, jsonBytes };
        foreach (var output in response.Outputs)
        {
            segments.Add(MemoryMarshal.TryGetArray<byte>(output.Data, out var segment) ? segment : output.Data.ToArray());
        }

        var total = headBytes.Length + jsonBytes.Length + binary;
        var sent = socket.Send(segments);
        if (sent < total)
        {
            // A short gathered send (a full socket buffer): send the rest in order.
            var rest = segments.SelectMany(s => s).Skip(sent).ToArray();
            for (var at = 0; at < rest.Length;)
            {
                at += socket.Send(rest, at, rest.Length - at, SocketFlags.None);
            }
        }
    }

    private static void ReceiveExactly(Socket socket, Span<byte> destination)
    {
        while (destination.Length > 0)
        {
            var n = socket.Receive(destination, SocketFlags.None);
            if (n == 0)
            {
                throw new SocketException((int)SocketError.ConnectionReset);
            }

            destination = destination[n..];
        }
    }

    private static long Header(string head, string name)
    {
        foreach (var line in head.Split("\r\n"))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0 && line.AsSpan(0, colon).Trim().Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return long.Parse(line.AsSpan(colon + 1).Trim(), CultureInfo.InvariantCulture);
            }
        }

        throw new InvalidDataException($"no {name} header");
    }
}
