using System.IO.Compression;
using WebhookUpdater.Containers;

namespace WebhookUpdater.Backups;

/// <summary>
/// Copies a container's data out through Docker's archive API: every volume and bind mount as
/// a gzipped tar, straight into the backup store, then the manifest.
/// </summary>
public sealed partial class ContainerSnapshotter(IContainerLifecycle containers, IBackupStore store, TimeProvider time, ILogger<ContainerSnapshotter> logger)
{
    public async Task<BackupManifest> SnapshotAsync(string container, string kind, string? jobId, string? imageId, CancellationToken cancellationToken)
    {
        var setId = $"{time.GetUtcNow():yyyyMMdd-HHmmss}-{kind}-{Safe(container)}-{Guid.NewGuid().ToString("N")[..6]}";
        try
        {
            var objects = new List<BackupObject>();
            foreach (var mount in await containers.DataMountsAsync(container, cancellationToken))
            {
                var name = $"{(mount.Name is { } volume && volume.Length < 64 ? Safe(volume) : Safe(mount.Destination.Trim('/')))}.tar.gz";
                await using var tar = await containers.ArchiveAsync(container, mount.Destination, cancellationToken);
                await using var compressed = Gzip(tar, cancellationToken, out var pump);
                var stored = await store.PutAsync(setId, name, $"{container}:{mount.Destination}", compressed, cancellationToken);
                await pump;
                objects.Add(stored);
                LogObject(logger, setId, stored.Name, stored.Size);
            }

            var manifest = new BackupManifest(setId, kind, time.GetUtcNow(), jobId, container, imageId, objects);
            await store.CompleteAsync(manifest, cancellationToken);
            return manifest;
        }
        catch
        {
            await store.AbortAsync(setId, CancellationToken.None);
            throw;
        }
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

    private static string Safe(string text)
    {
        var safe = new string(text.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_').ToArray());
        return safe.Length == 0 ? "root" : safe[..Math.Min(safe.Length, 60)];
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Backup {SetId}: stored {Object}, {Size} bytes")]
    private static partial void LogObject(ILogger logger, string setId, string @object, long size);
}
