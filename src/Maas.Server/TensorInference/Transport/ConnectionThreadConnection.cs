using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace Maas.Server.TensorInference.Transport;

/// <summary>
/// One connection of <see cref="ConnectionThreadTransportFactory"/>: a thread that receives into the input pipe (waiting
/// for bytes in poll), and a send loop that runs on whichever thread flushes the output pipe, sending what the socket
/// takes at once and leaving the rest to an asynchronous send.
/// </summary>
internal sealed class ConnectionThreadConnection : ConnectionContext,
    IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature, IConnectionLifetimeFeature, IMemoryPoolFeature, IConnectionEndPointFeature
{
    // Output bytes the handler may have written before its flush waits for the socket (Kestrel's socket transport's default).
    private const long WriteBehindBytes = 64 * 1024;
    private static long s_ids;

    private readonly Socket _socket;
    private readonly ConnectionThreadCount _threads;
    private readonly Pipe _input;
    private readonly Pipe _output;
    private readonly CancellationTokenSource _closed = new();
    private readonly TaskCompletionSource _received = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _sent = Task.CompletedTask;
    private volatile ConnectionAbortedException? _aborted;

    public ConnectionThreadConnection(Socket socket, MemoryPool<byte> pool, long readAheadBytes, ConnectionThreadCount threads)
    {
        _socket = socket;
        // Non-blocking: a send must never wait inside Kestrel's write (see SendLoopAsync); receives wait in poll instead.
        _socket.Blocking = false;
        _threads = threads;
        MemoryPool = pool;
        LocalEndPoint = socket.LocalEndPoint;
        RemoteEndPoint = socket.RemoteEndPoint;
        ConnectionId = "t" + Interlocked.Increment(ref s_ids).ToString("x", System.Globalization.CultureInfo.InvariantCulture);
        // Inline on both pipes: a receive runs Kestrel's reader on this connection's thread, and a flush runs the send
        // loop on the flushing thread; no hand-off to the thread pool on either path.
        _input = new Pipe(new PipeOptions(pool, PipeScheduler.Inline, PipeScheduler.Inline, readAheadBytes, readAheadBytes / 2, useSynchronizationContext: false));
        _output = new Pipe(new PipeOptions(pool, PipeScheduler.Inline, PipeScheduler.Inline, WriteBehindBytes, WriteBehindBytes / 2, useSynchronizationContext: false));
        Transport = new DuplexPipe(_input.Reader, _output.Writer);
        ConnectionClosed = _closed.Token;
        Features.Set<IConnectionIdFeature>(this);
        Features.Set<IConnectionTransportFeature>(this);
        Features.Set<IConnectionItemsFeature>(this);
        Features.Set<IConnectionLifetimeFeature>(this);
        Features.Set<IMemoryPoolFeature>(this);
        Features.Set<IConnectionEndPointFeature>(this);
    }

    public override string ConnectionId { get; set; }

    public override IFeatureCollection Features { get; } = new FeatureCollection();

    public override IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();

    public override IDuplexPipe Transport { get; set; }

    public override CancellationToken ConnectionClosed { get; set; }

    public override EndPoint? LocalEndPoint { get; set; }

    public override EndPoint? RemoteEndPoint { get; set; }

    public MemoryPool<byte> MemoryPool { get; }

    public void Start()
    {
        _sent = SendLoopAsync();
        _threads.Started();
        new Thread(ReceiveLoop) { IsBackground = true, Name = "maas-http-conn" }.Start();
    }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        _aborted = abortReason;
        // The receive thread notices the disposed socket (within a second when it waits in poll), or stops waiting for
        // a reader that is behind; the send loop's pending read ends too.
        _socket.Dispose();
        _input.Writer.CancelPendingFlush();
        _output.Reader.CancelPendingRead();
    }

    public override async ValueTask DisposeAsync()
    {
        _input.Writer.CancelPendingFlush();
        _output.Reader.CancelPendingRead();
        _socket.Dispose();
        await _received.Task;
        await _sent;
        // _closed is not disposed: its cancellation may still be queued, and a source without a timer holds nothing.
    }

    private void ReceiveLoop()
    {
        Exception? error = null;
        var writer = _input.Writer;
        try
        {
            var drained = true; // nothing received yet, or the last receive took all there was
            while (true)
            {
                // An idle connection holds no block: it waits for bytes before it takes one (Kestrel's sockets do too).
                if (drained)
                {
                    WaitReadable();
                }

                var memory = writer.GetMemory(1);
                var received = _socket.Receive(memory.Span, SocketFlags.None, out var socketError);
                if (socketError == SocketError.WouldBlock)
                {
                    drained = true; // readable, then taken by nothing: poll again
                    continue;
                }

                if (socketError != SocketError.Success)
                {
                    throw new SocketException((int)socketError);
                }

                if (received == 0)
                {
                    break; // the client finished sending
                }

                drained = received < memory.Length;

                writer.Advance(received);
                // Runs Kestrel's reader here; blocks only while the reader is a whole read-ahead behind (back-pressure).
                var flush = writer.FlushAsync();
                var result = flush.IsCompletedSuccessfully ? flush.Result : flush.AsTask().GetAwaiter().GetResult();
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            error = (Exception?)_aborted ?? (ex is SocketException { SocketErrorCode: SocketError.ConnectionReset }
                ? new ConnectionResetException(ex.Message, ex)
                : (Exception)new ConnectionAbortedException(ex.Message, ex));
        }
        catch (Exception ex)
        {
            error = ex;
        }
        finally
        {
            writer.Complete(error);
            _threads.Ended();
            _received.TrySetResult();
            // The client has gone (or Kestrel is done with the connection): a request still running hears it through
            // ConnectionClosed (RequestAborted), as with Kestrel's sockets. Off this thread: its callbacks are the
            // application's.
            ThreadPool.UnsafeQueueUserWorkItem(static c => c._closed.Cancel(), this, preferLocal: false);
        }
    }

    private async Task SendLoopAsync()
    {
        var reader = _output.Reader;
        Exception? error = null;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync();
                if (result.IsCanceled)
                {
                    break;
                }

                var buffer = result.Buffer;
                if (!buffer.IsEmpty && TrySend(buffer) is var sent && sent < buffer.Length)
                {
                    // The client reads slower than the response is written: the rest waits for the socket off this
                    // thread, which is Kestrel's (it may hold the response's lock, which a timeout's abort needs).
                    await SendAsync(buffer.Slice(sent));
                }

                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            error = ex;
        }
        finally
        {
            reader.Complete(error);
            // Kestrel completes its output to close the connection: the receive side ends with the socket.
            try
            {
                _socket.Shutdown(SocketShutdown.Both);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
            }

            _socket.Dispose();
        }
    }

    // What the socket takes without waiting (it is non-blocking): all of it, unless its send buffer is full.
    private long TrySend(in ReadOnlySequence<byte> buffer)
    {
        SocketError error;
        long sent;
        if (buffer.IsSingleSegment)
        {
            sent = _socket.Send(buffer.First.Span, SocketFlags.None, out error);
        }
        else
        {
            var segments = new List<ArraySegment<byte>>();
            foreach (var memory in buffer)
            {
                segments.Add(MemoryMarshal.TryGetArray(memory, out var segment) ? segment : memory.ToArray());
            }

            sent = _socket.Send(segments, SocketFlags.None, out error);
        }

        return error switch
        {
            SocketError.Success => sent,
            SocketError.WouldBlock => 0,
            _ => throw new SocketException((int)error),
        };
    }

    private async Task SendAsync(ReadOnlySequence<byte> rest)
    {
        foreach (var memory in rest)
        {
            for (var left = memory; left.Length > 0;)
            {
                left = left[await _socket.SendAsync(left, SocketFlags.None)..];
            }
        }
    }

    // Waits on this thread until the client's bytes (or its end) can be received. A second at most per poll, so a socket
    // closed by another thread is noticed even where closing does not wake a poll in progress (Poll on a disposed
    // socket throws).
    private void WaitReadable()
    {
        while (!_socket.Poll(1_000_000, SelectMode.SelectRead))
        {
        }
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
