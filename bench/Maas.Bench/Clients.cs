using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Google.Protobuf;
using Maas.Core.Formats.Onnx;
using Maas.Runtimes.Onnx;
using Maas.Server.TensorInference.Grpc.Protocol;

namespace Maas.Bench;

/// <summary>The ways the benchmark calls a model: REST JSON, REST binary, gRPC raw, and ONNX Runtime in process.</summary>
internal static class Clients
{
    private static readonly HttpClient Http2 = new(new SocketsHttpHandler { EnableMultipleHttp2Connections = true })
    {
        Timeout = TimeSpan.FromMinutes(2),
    };

    /// <summary>A REST call with the binary tensor extension in both directions.</summary>
    public static Func<int, CancellationToken, Task<bool>> RestBinary(Uri server, string model, string input, long[] shape, byte[] data, string? traceparent = null)
    {
        var json = Encoding.UTF8.GetBytes(
            $$$"""{"inputs":[{"name":"{{{input}}}","shape":[{{{string.Join(',', shape)}}}],"datatype":"FP32","parameters":{"binary_data_size":{{{data.Length}}}}}]""" +
            $$$""","parameters":{"binary_data_output":true}}""");
        var headers = new Dictionary<string, string>
        {
            ["Inference-Header-Content-Length"] = json.Length.ToString(CultureInfo.InvariantCulture),
            ["Authorization"] = "Bearer " + ServerProcess.AdminKey,
        };
        if (traceparent is not null)
        {
            headers["traceparent"] = traceparent; // a traced caller: the server's request span gets a W3C parent
        }

        var client = new RawHttpClient(server, $"/v2/models/{model}/infer", "application/octet-stream", [.. json, .. data], headers);
        return client.CallAsync;
    }

    /// <summary>A REST call with JSON tensors both ways.</summary>
    public static Func<int, CancellationToken, Task<bool>> RestJson(Uri server, string model, string input, long[] shape, float[] values)
    {
        var data = string.Join(',', values.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
        var body = Encoding.UTF8.GetBytes($$$"""{"inputs":[{"name":"{{{input}}}","shape":[{{{string.Join(',', shape)}}}],"datatype":"FP32","data":[{{{data}}}]}]}""");
        var client = new RawHttpClient(server, $"/v2/models/{model}/infer", "application/json", body,
            new Dictionary<string, string> { ["Authorization"] = "Bearer " + ServerProcess.AdminKey });
        return client.CallAsync;
    }

    /// <summary>A gRPC ModelInfer call with raw_input_contents, over HTTP/2 without TLS.</summary>
    public static Func<int, CancellationToken, Task<bool>> Grpc(Uri server, string model, string input, long[] shape, byte[] data)
    {
        var request = new ModelInferRequest { ModelName = model };
        var tensor = new ModelInferRequest.Types.InferInputTensor { Name = input, Datatype = "FP32" };
        tensor.Shape.Add(shape);
        request.Inputs.Add(tensor);
        request.RawInputContents.Add(ByteString.CopyFrom(data));
        var message = request.ToByteArray();
        var body = new byte[5 + message.Length];
        BinaryPrimitives.WriteUInt32BigEndian(body.AsSpan(1), (uint)message.Length);
        message.CopyTo(body, 5);
        var url = new Uri(server, "inference.GRPCInferenceService/ModelInfer");
        return async (_, ct) =>
        {
            using var call = new HttpRequestMessage(HttpMethod.Post, url)
            {
                Version = HttpVersion.Version20,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                Content = new ByteArrayContent(body),
            };
            call.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
            call.Headers.TE.ParseAdd("trailers");
            call.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ServerProcess.AdminKey);
            using var response = await Http2.SendAsync(call, HttpCompletionOption.ResponseHeadersRead, ct);
            await Drain(response, ct);
            return response.TrailingHeaders.TryGetValues("grpc-status", out var s) && s.First() == "0";
        };
    }

    [ThreadStatic]
    private static byte[]? t_sink;

    private static async Task Drain(HttpResponseMessage response, CancellationToken ct)
    {
        var sink = t_sink ??= new byte[1 << 16];
        await using var stream = await response.Content.ReadAsStreamAsync(ct);
        while (await stream.ReadAsync(sink, ct) > 0)
        {
        }
    }

    /// <summary>
    /// ONNX Runtime in process with the server's engine settings: <paramref name="instances"/> sessions of
    /// <paramref name="threads"/> intra-op threads each, callers waiting for a free session as requests wait for an instance.
    /// </summary>
    public sealed class InProcess : IDisposable
    {
        private readonly OnnxSession[] _sessions;
        private readonly System.Threading.Channels.Channel<OnnxSession> _free = System.Threading.Channels.Channel.CreateUnbounded<OnnxSession>();
        private readonly string _input;
        private readonly long[] _shape;
        private readonly byte[] _data;

        public InProcess(string modelPath, int instances, int threads, string input, long[] shape, byte[] data)
        {
            _sessions = Enumerable.Range(0, instances).Select(_ =>
            {
                using var options = new OnnxSessionOptions { IntraOpThreads = threads, InterOpThreads = 1 };
                Maas.Runtimes.Onnx.Serving.OnnxBackend.ApplyServingDefaults(options); // the server's session settings, exactly
                return OnnxSession.Open(modelPath, options);
            }).ToArray();
            foreach (var s in _sessions)
            {
                _free.Writer.TryWrite(s);
            }

            _input = input;
            _shape = shape;
            _data = data;
        }

        public async Task<bool> CallAsync(int client, CancellationToken ct)
        {
            var session = await _free.Reader.ReadAsync(ct);
            try
            {
                // Like a request handler: hop to a pool thread, run, give the thread back.
                await Task.Run(() =>
                {
                    using var tensor = OnnxTensor.CreateFromBytes(OnnxElementType.Float, _data, _shape);
                    using var outputs = session.Run([new(_input, tensor)]);
                    _ = outputs[0].GetBytes().Length;
                }, ct);
                return true;
            }
            finally
            {
                _free.Writer.TryWrite(session);
            }
        }

        public void Dispose()
        {
            foreach (var s in _sessions)
            {
                s.Dispose();
            }
        }
    }
}
