using System.Collections.Immutable;
using System.Threading.Channels;
using Microsoft.Extensions.Options;

namespace WebhookUpdater.Containers;

/// <summary>
/// What the engine holds, kept in memory from Docker's event stream, so that deciding a webhook
/// event needs no Docker call: Diun waits for the answer. The index is used only while the stream
/// is connected and everything it reported is applied; otherwise (starting, engine gone, a change
/// not applied within <see cref="SettleTimeout"/>) every look-up goes to the engine, as it would
/// without the index. A container the index does not know is looked up in the engine too.
/// </summary>
/// <remarks>
/// Labels and the configured image cannot change without a new container (create/destroy), and
/// the running image's digests change only with image events: both are watched. The update
/// pipeline never decides from the index; it inspects the container itself.
/// </remarks>
public sealed partial class ContainerIndex(
    Lazy<IContainerRuntime> lazyEngine,
    IOptions<DockerOptions> options,
    TimeProvider time,
    ILogger<ContainerIndex> logger) : IHostedService, IContainerLookup, IDisposable
{
    public static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    private ImmutableDictionary<string, ContainerSnapshot> _byId = ImmutableDictionary<string, ContainerSnapshot>.Empty;
    private volatile bool _live;
    private long _received;
    private long _applied;
    private TaskCompletionSource _progress = NewProgress();
    private readonly CancellationTokenSource _stopping = new();
    private Task? _following;
    private int _started;

    private IContainerRuntime Engine => lazyEngine.Value;

    /// <summary>True while the event stream is connected and the index was loaded after it.</summary>
    public bool IsLive => _live;

    /// <summary>How many containers the index holds.</summary>
    public int Count => _byId.Count;

    /// <summary>Starts following the engine's events (once; later calls do nothing).</summary>
    public void EnsureStarted()
    {
        if (!options.Value.IndexContainers || _stopping.IsCancellationRequested || Interlocked.Exchange(ref _started, 1) == 1)
        {
            return;
        }

        _following = Task.Run(() => FollowWithRetriesAsync(_stopping.Token));
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        if (_following is { } following)
        {
            await following.WaitAsync(cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    /// <summary>Stops following; the token source is only cancelled (the host may still call StopAsync after this).</summary>
    public void Dispose() => _stopping.Cancel();

    public async Task<ContainerSnapshot?> FindAsync(string nameOrId, CancellationToken cancellationToken)
    {
        EnsureStarted();
        if (await SettledAsync(cancellationToken) && Lookup(nameOrId) is { } known)
        {
            return known;
        }

        // Unknown here: created a moment ago, an ambiguous id prefix, or the index is not live.
        return await Engine.FindAsync(nameOrId, cancellationToken);
    }

    public async Task<IReadOnlyList<ContainerSnapshot>> FindByRepositoryAsync(ImageReference repository, CancellationToken cancellationToken)
    {
        EnsureStarted();
        if (await SettledAsync(cancellationToken))
        {
            var found = _byId.Values
                .Where(container => ImageReference.TryParse(container.ConfiguredImage, out var configured, out _) && configured.SameRepository(repository))
                .ToList();
            if (found.Count > 0)
            {
                return found;
            }
        }

        return await Engine.FindByRepositoryAsync(repository, cancellationToken);
    }

    private async Task FollowWithRetriesAsync(CancellationToken stoppingToken)
    {
        var backoff = TimeSpan.FromSeconds(1);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await FollowAsync(stoppingToken);
                backoff = TimeSpan.FromSeconds(1);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogStreamLost(logger, e.GetType().Name, backoff.TotalSeconds);
            }
            finally
            {
                _live = false;
            }

            try
            {
                await Task.Delay(backoff, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
        }
    }

    /// <summary>One connection: subscribe, load everything, then apply changes until the stream breaks.</summary>
    private async Task FollowAsync(CancellationToken stoppingToken)
    {
        using var connection = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var changes = Channel.CreateUnbounded<EngineChange>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });

        // Subscribing from a moment before the load means no change falls between the two; one
        // seen twice is only inspected twice.
        var since = time.GetUtcNow() - TimeSpan.FromSeconds(2);
        var receiving = ReceiveAsync(Engine.WatchAsync(since, connection.Token), changes.Writer);
        try
        {
            var all = await Engine.ListAllAsync(connection.Token);
            Volatile.Write(ref _byId, all.ToImmutableDictionary(container => container.Id, StringComparer.Ordinal));
            _live = true;
            LogLive(logger, all.Count);

            await foreach (var change in changes.Reader.ReadAllAsync(connection.Token))
            {
                await ApplyAsync(change, connection.Token);
                Interlocked.Increment(ref _applied);
                Signal();
            }
        }
        finally
        {
            _live = false;
            await connection.CancelAsync();
            await receiving.ContinueWith(_ => { }, TaskScheduler.Default);

            // What this connection received and did not apply is gone with it: the next one loads anew.
            Interlocked.Exchange(ref _applied, Interlocked.Read(ref _received));
            Signal();
        }
    }

    private async Task ReceiveAsync(IAsyncEnumerable<EngineChange> stream, ChannelWriter<EngineChange> writer)
    {
        try
        {
            await foreach (var change in stream)
            {
                Interlocked.Increment(ref _received);
                writer.TryWrite(change);
            }

            writer.TryComplete(new IOException("The Docker event stream ended."));
        }
        catch (Exception e)
        {
            writer.TryComplete(e);
        }
    }

    private async Task ApplyAsync(EngineChange change, CancellationToken cancellationToken)
    {
        if (change.Type == EngineChange.Container)
        {
            var current = change.Action == "destroy" ? null : await Engine.FindAsync(change.Id, cancellationToken);
            ImmutableInterlocked.Update(ref _byId, (index, found) => found is null
                ? index.Remove(change.Id)
                : index.SetItem(found.Id, found), current);
            return;
        }

        // An image was pulled, tagged, untagged or removed: the digests any container's image
        // answers to may have changed. Images change rarely; read each container again.
        var refreshed = await Engine.ListAllAsync(cancellationToken);
        Volatile.Write(ref _byId, refreshed.ToImmutableDictionary(container => container.Id, StringComparer.Ordinal));
    }

    /// <summary>
    /// True when the index may answer: live, and every change received before this look-up is
    /// applied (a container created just before its event must not be missed).
    /// </summary>
    private async Task<bool> SettledAsync(CancellationToken cancellationToken)
    {
        if (!_live)
        {
            return false;
        }

        var target = Interlocked.Read(ref _received);
        if (Interlocked.Read(ref _applied) >= target)
        {
            return true;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(SettleTimeout);
        try
        {
            while (true)
            {
                // Taken before the check, so a change applied in between still wakes us.
                var progress = Volatile.Read(ref _progress).Task;
                if (!_live || Interlocked.Read(ref _applied) >= target)
                {
                    break;
                }

                await progress.WaitAsync(timeout.Token);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }

        return _live;
    }

    private void Signal() => Interlocked.Exchange(ref _progress, NewProgress()).TrySetResult();

    private static TaskCompletionSource NewProgress() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>What the index alone holds under this name or id (no settling, no engine): for diagnostics and tests.</summary>
    public ContainerSnapshot? Known(string nameOrId) => Lookup(nameOrId);

    private ContainerSnapshot? Lookup(string nameOrId)
    {
        var index = _byId;
        if (index.TryGetValue(nameOrId, out var byId))
        {
            return byId;
        }

        var name = nameOrId.TrimStart('/');
        ContainerSnapshot? byPrefix = null;
        foreach (var container in index.Values)
        {
            if (container.Name == name)
            {
                return container;
            }

            if (nameOrId.Length >= 12 && container.Id.StartsWith(nameOrId, StringComparison.Ordinal))
            {
                if (byPrefix is not null)
                {
                    return null; // ambiguous: the engine says so in its own words
                }

                byPrefix = container;
            }
        }

        return byPrefix;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Container index live: {Count} container(s), kept from Docker's event stream")]
    private static partial void LogLive(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Docker's event stream was lost ({Error}); look-ups go to the engine until it is back (next try in {Seconds} s)")]
    private static partial void LogStreamLost(ILogger logger, string error, double seconds);
}
