using System.Diagnostics.Metrics;
using System.Threading.Channels;

namespace WebhookUpdater.Updates;

/// <summary>
/// The in-process channel between the webhook and the update worker. It carries job ids only:
/// the journal is the truth, so a job is queued in the store before it is written here, and the
/// worker re-reads the job's state before it acts on an id.
/// </summary>
public sealed class UpdateQueue
{
    /// <summary>The gauge lives with the queue, so it is there from start-up (the factory hands every caller of a name the same meter).</summary>
    public UpdateQueue(IMeterFactory meters) =>
        meters.Create(UpdateTelemetry.Name).CreateObservableGauge("webhookupdater.queue.depth", () => Count, "{job}", "Jobs waiting in the update channel");

    private readonly Channel<string> _channel = Channel.CreateUnbounded<string>(new UnboundedChannelOptions
    {
        // Not SingleReader: only the multi-reader channel can count its items (the queue-depth gauge).
        SingleReader = false,
        SingleWriter = false,
    });

    public ChannelReader<string> Reader => _channel.Reader;

    public int Count => _channel.Reader.Count;

    public void Enqueue(string jobId)
    {
        // Unbounded and never completed while the host runs: TryWrite cannot fail here.
        if (!_channel.Writer.TryWrite(jobId))
        {
            throw new InvalidOperationException("The update queue is closed.");
        }
    }
}

/// <summary>
/// Rung by the intake after it stored a job that waits for the operator, so the approval link is
/// issued at once. Carries no job: the journal is the truth, and one ring stands for any number.
/// </summary>
public sealed class AwaitingApprovalSignal
{
    private readonly Channel<bool> _rings = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    public void Ring() => _rings.Writer.TryWrite(true);

    /// <summary>Returns once rung (at once if it was rung meanwhile), taking the ring.</summary>
    public async Task WaitAsync(CancellationToken cancellationToken)
    {
        await _rings.Reader.WaitToReadAsync(cancellationToken);
        _rings.Reader.TryRead(out _);
    }
}
