using System.Threading.Channels;

namespace WebhookUpdater.Updates;

/// <summary>
/// The in-process channel between the webhook and the update worker. It carries job ids only:
/// the journal is the truth, so a job is queued in the store before it is written here, and the
/// worker re-reads the job's state before it acts on an id.
/// </summary>
public sealed class UpdateQueue
{
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
