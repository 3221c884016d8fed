using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace WebhookUpdater.Notifications;

/// <summary>Wakes the dispatcher when a message was written; several wakes in a row count as one.</summary>
public sealed class OutboxSignal
{
    private readonly Channel<bool> _channel = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    public void Wake() => _channel.Writer.TryWrite(true);

    internal async Task WaitAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var delay = Task.Delay(timeout, time, linked.Token);
        var woken = _channel.Reader.WaitToReadAsync(linked.Token).AsTask();
        await Task.WhenAny(delay, woken);
        await linked.CancelAsync();
        _channel.Reader.TryRead(out _);
        cancellationToken.ThrowIfCancellationRequested();
    }
}

/// <summary>
/// The only code that sends mail, one message at a time: written messages go out at once, failed
/// ones again after a growing pause, forever (a message is never dropped). One round is one
/// Polly pipeline run: a timeout per request and retries on throttling, 5xx and network errors.
/// </summary>
internal sealed partial class OutboxDispatcher(
    OutboxStore store,
    OutboxSignal signal,
    IEmailSender sender,
    EmailMetrics metrics,
    IOptionsMonitor<EmailOptions> options,
    TimeProvider time,
    ILogger<OutboxDispatcher> logger) : BackgroundService
{
    private const int BatchSize = 20;
    private static readonly TimeSpan IdlePoll = TimeSpan.FromMinutes(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        foreach (var id in await store.ReleaseInterruptedAsync(stoppingToken))
        {
            LogInterrupted(logger, id);
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await DeliverDueAsync(stoppingToken);
                var next = await store.NextDueAsync(stoppingToken);
                var wait = next is null ? IdlePoll : next.Value - time.GetUtcNow();
                wait = wait < TimeSpan.Zero ? TimeSpan.Zero : wait > IdlePoll ? IdlePoll : wait;
                await signal.WaitAsync(wait + TimeSpan.FromMilliseconds(10), time, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // The store itself failed (disk full?): keep the loop alive and try again later.
                LogLoopFailed(logger, e);
                await Task.Delay(TimeSpan.FromSeconds(5), time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    /// <summary>Sends every message that is due now. Returns how many went out.</summary>
    public async Task<int> DeliverDueAsync(CancellationToken cancellationToken)
    {
        var sent = 0;
        while (true)
        {
            var due = await store.DueAsync(BatchSize, cancellationToken);
            foreach (var message in due)
            {
                sent += await DeliverAsync(message, cancellationToken) ? 1 : 0;
            }

            if (due.Count < BatchSize)
            {
                return sent;
            }
        }
    }

    private async Task<bool> DeliverAsync(OutboxMessage message, CancellationToken cancellationToken)
    {
        if (!await store.ClaimAsync(message.Id, cancellationToken))
        {
            return false;
        }

        var settings = options.CurrentValue;
        var email = new OutgoingEmail(message.Id, message.Kind, message.JobId, settings.From, settings.Recipients, message.Content, message.CreatedAt);
        try
        {
            var providerId = await Pipeline(settings, message).ExecuteAsync(
                async token => await sender.SendAsync(email, token), cancellationToken);
            // Marked even while the host stops: the send happened, the mark must follow.
            await store.MarkSentAsync(message.Id, sender.Name, providerId, CancellationToken.None);
            LogSent(logger, message.Id, message.Kind, message.JobId, sender.Name);
            metrics.Sent(sender.Name, message.Kind);
            return true;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await store.MarkFailedAsync(message.Id, "the service stopped during a send", time.GetUtcNow(), CancellationToken.None);
            throw;
        }
        catch (Exception e)
        {
            var attempts = await store.AttemptsAsync(message.Id, CancellationToken.None);
            var pause = Backoff(settings, attempts);
            var error = Describe(e);
            await store.MarkFailedAsync(message.Id, error, time.GetUtcNow() + pause, CancellationToken.None);
            LogKept(logger, message.Id, message.Kind, message.JobId, sender.Name, attempts, error, pause);
            metrics.Failed(sender.Name, message.Kind);
            return false;
        }
    }

    /// <summary>RetryInterval, doubled per failed round, at most MaxRetryInterval.</summary>
    internal static TimeSpan Backoff(EmailOptions settings, int attempts)
    {
        var factor = Math.Pow(2, Math.Clamp(attempts - 1, 0, 30));
        var pause = TimeSpan.FromTicks((long)Math.Min(settings.RetryInterval.Ticks * factor, settings.MaxRetryInterval.Ticks));
        return pause;
    }

    private ResiliencePipeline<string?> Pipeline(EmailOptions settings, OutboxMessage message)
    {
        var builder = new ResiliencePipelineBuilder<string?> { TimeProvider = time };
        if (settings.RetryAttempts > 0)
        {
            builder.AddRetry(new RetryStrategyOptions<string?>
            {
                ShouldHandle = new PredicateBuilder<string?>()
                    .Handle<EmailSendException>(e => e.Transient)
                    .Handle<HttpRequestException>()
                    .Handle<TimeoutRejectedException>()
                    .Handle<IOException>()
                    .Handle<SocketException>(),
                MaxRetryAttempts = settings.RetryAttempts,
                Delay = settings.RetryDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                // Honour the server's Retry-After when it says, within reason.
                DelayGenerator = args => ValueTask.FromResult(
                    args.Outcome.Exception is EmailSendException { RetryAfter: { } after } && after > TimeSpan.Zero
                        ? (TimeSpan?)(after > TimeSpan.FromMinutes(1) ? TimeSpan.FromMinutes(1) : after)
                        : null),
                OnRetry = args =>
                {
                    LogRetry(logger, message.Id, sender.Name, args.AttemptNumber + 1, Describe(args.Outcome.Exception), args.RetryDelay);
                    metrics.Retried(sender.Name, message.Kind);
                    return ValueTask.CompletedTask;
                },
            });
        }

        return builder.AddTimeout(settings.SendTimeout).Build();
    }

    /// <summary>What went wrong, short, from the exception types this code raises (none carry secrets).</summary>
    private static string Describe(Exception? e) => e switch
    {
        null => "unknown error",
        EmailSendException send => send.Message,
        TimeoutRejectedException => "the mail server did not answer in time (Email:SendTimeout)",
        _ => $"{e.GetType().Name}: {e.Message}",
    };

    [LoggerMessage(Level = LogLevel.Information, Message = "Email {MessageId} ({Kind}, job {JobId}) sent via {Sender}")]
    private static partial void LogSent(ILogger logger, string messageId, string kind, string? jobId, string sender);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Email {MessageId} via {Sender}: try {Attempt} failed ({Error}); retrying in {Delay}")]
    private static partial void LogRetry(ILogger logger, string messageId, string sender, int attempt, string error, TimeSpan delay);

    [LoggerMessage(Level = LogLevel.Error,
        Message = "Email {MessageId} ({Kind}, job {JobId}) not sent via {Sender} (round {Attempts}): {Error}; kept in the outbox, next try in {Pause}")]
    private static partial void LogKept(ILogger logger, string messageId, string kind, string? jobId, string sender, int attempts, string error, TimeSpan pause);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Email {MessageId} was being sent when the service stopped; it is sent again and may arrive twice")]
    private static partial void LogInterrupted(ILogger logger, string messageId);

    [LoggerMessage(Level = LogLevel.Error, Message = "The outbox loop failed; trying again in 5 s")]
    private static partial void LogLoopFailed(ILogger logger, Exception error);
}
