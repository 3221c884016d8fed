namespace WebhookUpdater.Containers;

/// <summary>
/// A token that is cancelled when nothing has moved for <c>idle</c> (a transfer or a command that
/// stalled), or when a fixed deadline passes, or when the caller cancels. Each
/// <see cref="Progress"/> starts the idle wait again; a transfer of any size is never cut off
/// while bytes flow.
/// </summary>
internal sealed class ProgressWatchdog : IDisposable
{
    private readonly CancellationTokenSource _expired = new();
    private readonly CancellationTokenSource _linked;
    private readonly ITimer _idleTimer;
    private readonly ITimer? _deadlineTimer;
    private readonly TimeSpan _idle;
    private int _reason;

    /// <param name="idle">How long nothing may move; <see cref="Timeout.InfiniteTimeSpan"/> for no limit.</param>
    /// <param name="deadline">How long the whole may take; <see cref="Timeout.InfiniteTimeSpan"/> for no limit.</param>
    public ProgressWatchdog(TimeSpan idle, TimeSpan deadline, TimeProvider time, CancellationToken cancellationToken)
    {
        _idle = idle;
        _linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _expired.Token);
        _idleTimer = time.CreateTimer(_ => Expire(WatchdogEnd.Idle), null, idle, Timeout.InfiniteTimeSpan);
        if (deadline != Timeout.InfiniteTimeSpan)
        {
            _deadlineTimer = time.CreateTimer(_ => Expire(WatchdogEnd.Deadline), null, deadline, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Cancelled when the watchdog expired or the caller cancelled.</summary>
    public CancellationToken Token => _linked.Token;

    /// <summary>Why the watchdog cancelled, or <see cref="WatchdogEnd.None"/> while it has not.</summary>
    public WatchdogEnd Expired => (WatchdogEnd)Volatile.Read(ref _reason);

    /// <summary>Something moved: the idle wait starts again.</summary>
    public void Progress()
    {
        if (Volatile.Read(ref _reason) == 0)
        {
            _idleTimer.Change(_idle, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>No more idle limit (e.g. all input was sent; what is left is bounded by the deadline).</summary>
    public void StopIdleWait() => _idleTimer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

    private void Expire(WatchdogEnd reason)
    {
        if (Interlocked.CompareExchange(ref _reason, (int)reason, 0) == 0)
        {
            try
            {
                _expired.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    public void Dispose()
    {
        _idleTimer.Dispose();
        _deadlineTimer?.Dispose();
        _linked.Dispose();
        _expired.Dispose();
    }
}

public enum WatchdogEnd
{
    None = 0,

    /// <summary>Nothing moved for the idle limit.</summary>
    Idle = 1,

    /// <summary>The deadline passed.</summary>
    Deadline = 2,
}

/// <summary>
/// A stream that tells a <see cref="ProgressWatchdog"/> whenever bytes pass through it, and turns
/// the watchdog's expiry into a <see cref="StepDeadlineException"/> that says what stalled.
/// </summary>
/// <param name="what">What the bytes are, for the message: "reading gitea:/data".</param>
/// <param name="ownsWatchdog">Dispose the watchdog with the stream (the stream outlives the call that made it).</param>
/// <param name="leaveOpen">Leave <paramref name="inner"/> open: the caller owns it.</param>
internal sealed class WatchedStream(Stream inner, ProgressWatchdog watchdog, string what, TimeSpan idle, bool ownsWatchdog = false, bool leaveOpen = false) : Stream
{
    public override bool CanRead => inner.CanRead;

    public override bool CanSeek => false;

    public override bool CanWrite => inner.CanWrite;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        using var both = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, watchdog.Token);
        try
        {
            var read = await inner.ReadAsync(buffer, both.Token);
            watchdog.Progress();
            return read;
        }
        catch (Exception e) when (Stalled(e))
        {
            throw Deadline();
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        using var both = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, watchdog.Token);
        try
        {
            await inner.WriteAsync(buffer, both.Token);
            watchdog.Progress();
        }
        catch (Exception e) when (Stalled(e))
        {
            throw Deadline();
        }
    }

    // A read the watchdog cut short ends as a cancellation, or as an I/O error of the connection it closed.
    private bool Stalled(Exception e) => watchdog.Expired != WatchdogEnd.None && e is OperationCanceledException or IOException or ObjectDisposedException;

    private StepDeadlineException Deadline() => new(watchdog.Expired == WatchdogEnd.Idle
        ? $"{what} stopped: no bytes moved for {idle.TotalSeconds:0} s (Docker:StallTimeout)"
        : $"{what} stopped at its deadline");

    public override void Flush() => inner.Flush();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            if (!leaveOpen)
            {
                inner.Dispose();
            }

            if (ownsWatchdog)
            {
                watchdog.Dispose();
            }
        }

        base.Dispose(disposing);
    }
}
