using System.IO.Compression;
using WebhookUpdater.Containers;

namespace WebhookUpdater.Backups;

/// <summary>
/// Makes one backup set of a container, as its labels say (<see cref="BackupLabels"/>): a
/// PostgreSQL container's database through <c>pg_dump -Fc</c> in a docker exec, other data as
/// gzipped tars from Docker's archive API, each streamed straight into the store. The manifest
/// is written only after every object is stored and verified; any failure removes the set.
/// </summary>
public sealed partial class ContainerSnapshotter(
    IContainerActions containers,
    IBackupStore store,
    BackupPlanner planner,
    SetQuiescer quiescer,
    BackupRetention retention,
    BackupMetrics metrics,
    BackupManifestSigner signer,
    TimeProvider time,
    ILogger<ContainerSnapshotter> logger) : IDisposable
{
    // One set at a time: a daily run and a pre-update backup do not dump the same database side by side.
    private readonly SemaphoreSlim _one = new(1, 1);

    /// <param name="setId">The set's id when the caller chose it (a Swarm agent writes the set its manager waits for); else a new one.</param>
    public async Task<BackupManifest> SnapshotAsync(string container, string kind, string? jobId, string? imageId, CancellationToken cancellationToken, string? setId = null)
    {
        await _one.WaitAsync(cancellationToken);
        BackupManifest manifest;
        var started = time.GetTimestamp();
        try
        {
            manifest = await SnapshotOneAsync(setId ?? BackupNames.NewSetId(time.GetUtcNow(), kind, container), container, kind, jobId, imageId, cancellationToken);
            metrics.SetEnded(kind, complete: true, manifest.Objects.Sum(o => o.Size), time.GetElapsedTime(started));
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            metrics.SetEnded(kind, complete: false, 0, time.GetElapsedTime(started));
            throw;
        }
        finally
        {
            _one.Release();
        }

        try
        {
            await retention.ApplyAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The new set is complete; old ones stay until the next run can delete them.
            LogRetentionFailed(logger, manifest.Id, e.Message);
        }

        return manifest;
    }

    private async Task<BackupManifest> SnapshotOneAsync(string setId, string container, string kind, string? jobId, string? imageId, CancellationToken cancellationToken)
    {
        var where = store.Describe();
        LogStarting(logger, setId, container, kind, where);
        try
        {
            var objects = new List<BackupObject>();
            var sources = await planner.PlanAsync(container, cancellationToken);
            // One moment for the whole set: what Gitea wrote to /data matches the rows of its database's dump.
            await using (await quiescer.QuiesceAsync(setId, sources, cancellationToken))
            {
                foreach (var source in sources)
                {
                    var stored = source.Type == BackupObjectTypes.PostgresDump
                        ? await DumpAsync(setId, source, cancellationToken)
                        : await ArchiveAsync(setId, source, cancellationToken);
                    objects.Add(stored with { Container = source.Container, Type = source.Type, Target = source.Target });
                    LogObject(logger, setId, stored.Name, stored.Size);
                }
            }

            var manifest = signer.Sign(new BackupManifest(setId, kind, time.GetUtcNow(), jobId, container, imageId, objects));
            await store.CompleteAsync(manifest, cancellationToken);
            var total = objects.Sum(o => o.Size);
            LogComplete(logger, setId, objects.Count, total);
            return manifest;
        }
        catch (Exception e)
        {
            LogFailed(logger, setId, e.Message);
            try
            {
                await store.AbortAsync(setId, CancellationToken.None);
            }
            catch (Exception abort)
            {
                LogAbortFailed(logger, setId, abort.Message);
            }

            // A timeout (of Docker, of the store) is a failed backup, not a shutdown of the service.
            if (e is OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                throw new BackupSourceException($"timed out: {e.Message}");
            }

            throw;
        }
    }

    private async Task<BackupObject> DumpAsync(string setId, BackupSource source, CancellationToken cancellationToken)
    {
        var environment = await planner.PostgresEnvironmentAsync(source.Container, source.User!, cancellationToken);
        await using var dump = await containers.ExecReadAsync(
            source.Container, ["pg_dump", "--format=custom", "--no-password", "--dbname", source.Target], environment, cancellationToken);
        BackupObject stored;
        try
        {
            stored = await store.PutAsync(setId, source.ObjectName, $"{source.Container}:postgres/{source.Target}", dump.Stdout, cancellationToken);
        }
        catch (Exception e) when (Deadline(e) is { } deadline)
        {
            // The store reports the read it was doing as its own failure; the cause is the stalled dump.
            throw new BackupSourceException($"pg_dump of database {source.Target} in {source.Container} did not finish: {deadline.Message}");
        }

        var result = await dump.FinishAsync(cancellationToken);
        if (!result.Succeeded)
        {
            throw new BackupSourceException($"pg_dump of database {source.Target} in {source.Container} {result.Describe()}: {result.Output.Trim()}");
        }

        if (stored.Size == 0)
        {
            throw new BackupSourceException($"pg_dump of database {source.Target} in {source.Container} wrote nothing");
        }

        return stored;
    }

    private async Task<BackupObject> ArchiveAsync(string setId, BackupSource source, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        await using var tar = await containers.ArchiveAsync(source.Container, source.Target, cancellationToken);
        var compressed = Gzip(tar, stop.Token, out var pump);
        try
        {
            return await store.PutAsync(setId, source.ObjectName, $"{source.Container}:{source.Target}", compressed, cancellationToken);
        }
        finally
        {
            // When the store stopped early, the pump must not go on reading the whole volume for nobody.
            await stop.CancelAsync();
            await compressed.DisposeAsync();
            try
            {
                await pump;
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    private static StepDeadlineException? Deadline(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is StepDeadlineException deadline)
            {
                return deadline;
            }
        }

        return null;
    }

    /// <summary>A stream of the gzip of <paramref name="source"/>, compressed on the fly through a pipe (bounded memory).</summary>
    private static Stream Gzip(Stream source, CancellationToken cancellationToken, out Task pump)
    {
        var pipe = new System.IO.Pipelines.Pipe();
        pump = Task.Run(async () =>
        {
            try
            {
                await using (var gzip = new GZipStream(pipe.Writer.AsStream(leaveOpen: true), CompressionLevel.Fastest))
                {
                    await source.CopyToAsync(gzip, cancellationToken);
                }

                await pipe.Writer.CompleteAsync();
            }
            catch (Exception e)
            {
                await pipe.Writer.CompleteAsync(e);
                throw;
            }
        }, cancellationToken);
        return pipe.Reader.AsStream();
    }

    public void Dispose() => _one.Dispose();

    [LoggerMessage(Level = LogLevel.Information, Message = "Backup {SetId}: {Kind} of {Container} to {Store}")]
    private static partial void LogStarting(ILogger logger, string setId, string container, string kind, string store);

    [LoggerMessage(Level = LogLevel.Information, Message = "Backup {SetId}: stored {Object}, {Size} bytes")]
    private static partial void LogObject(ILogger logger, string setId, string @object, long size);

    [LoggerMessage(Level = LogLevel.Information, Message = "Backup {SetId}: complete, {Objects} object(s), {Size} bytes")]
    private static partial void LogComplete(ILogger logger, string setId, int objects, long size);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Backup {SetId} failed: {Error}")]
    private static partial void LogFailed(ILogger logger, string setId, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Backup {SetId}: removing the incomplete set failed: {Error}")]
    private static partial void LogAbortFailed(ILogger logger, string setId, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Backup {SetId}: retention failed: {Error}")]
    private static partial void LogRetentionFailed(ILogger logger, string setId, string error);
}
