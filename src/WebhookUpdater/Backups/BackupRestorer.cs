using System.Buffers;
using System.Security.Cryptography;
using WebhookUpdater.Containers;
using WebhookUpdater.Health;

namespace WebhookUpdater.Backups;

/// <summary>What a restore did, or would do (dry run), step by step.</summary>
public sealed record RestoreReport(string SetId, bool DryRun, bool Succeeded, IReadOnlyList<string> Steps, string? Error);

/// <param name="RunHealthGate">False when the caller runs its own gate (the pipeline's rollback).</param>
/// <param name="StartAll">Also start the set's containers that were stopped before the restore (the rollback starts its own).</param>
public sealed record RestoreRequest(string SetId, bool DryRun = false, bool RunHealthGate = true, bool StartAll = true);

/// <summary>The set cannot be restored as asked; nothing was changed.</summary>
public sealed class RestoreRefusedException(string message, bool notFound = false) : Exception(message)
{
    public bool NotFound { get; } = notFound;
}

/// <summary>
/// Puts a set back. First every object is read and checked against the manifest (size and
/// SHA-256): a set that does not verify changes nothing. Then the containers that use the data
/// are stopped (a database container keeps running: pg_restore talks to it), archives are
/// extracted through Docker's archive API, each database is recreated from its dump with
/// <c>pg_restore --clean --create</c>, the containers are started again and the health gate
/// runs on each. A container this restore stopped is started again whatever fails.
/// </summary>
public sealed partial class BackupRestorer(
    IBackupStore store,
    IContainerLifecycle containers,
    BackupPlanner planner,
    HealthGate gate,
    ILogger<BackupRestorer> logger)
{
    public async Task<RestoreReport> RestoreAsync(RestoreRequest request, CancellationToken cancellationToken)
    {
        var steps = new List<string>();
        void Step(string text)
        {
            steps.Add(text);
            LogStep(logger, request.SetId, request.DryRun, text);
        }

        if (!BackupNames.IsSafe(request.SetId))
        {
            throw new RestoreRefusedException($"'{request.SetId}' is not a backup set id (GET /api/backups lists them)", notFound: true);
        }

        var manifest = await store.ManifestAsync(request.SetId, cancellationToken)
            ?? throw new RestoreRefusedException($"set {request.SetId} has no manifest: it does not exist or is incomplete, and cannot be restored (GET /api/backups lists the complete ones)", notFound: true);

        foreach (var item in manifest.Objects)
        {
            await VerifyAsync(manifest.Id, item, cancellationToken);
            Step($"verified {item.Name}: {item.Size} bytes, sha256 {item.Sha256}");
        }

        var involved = manifest.Objects.Select(o => o.Container ?? manifest.Container).Prepend(manifest.Container).Distinct(StringComparer.Ordinal).ToList();
        var status = new Dictionary<string, ContainerStatus>(StringComparer.Ordinal);
        foreach (var name in involved)
        {
            status[name] = await containers.StatusAsync(name, cancellationToken)
                ?? throw new RestoreRefusedException($"set {manifest.Id} restores into container {name}, which does not exist: create it (same name, same volumes) first");
        }

        var databases = manifest.Objects.Where(o => o.Type == BackupObjectTypes.PostgresDump).Select(o => o.Container ?? manifest.Container).ToHashSet(StringComparer.Ordinal);
        var archives = manifest.Objects.Where(o => o.Type == BackupObjectTypes.Archive).ToList();
        var dumps = manifest.Objects.Where(o => o.Type == BackupObjectTypes.PostgresDump).ToList();
        // Everything that uses the data stops; a database server stops only to have files put back.
        var toStop = involved.Where(name => !databases.Contains(name) || archives.Any(a => (a.Container ?? manifest.Container) == name)).ToList();
        var stopped = new List<string>();
        try
        {
            foreach (var name in toStop.Where(name => status[name].Running))
            {
                Step($"stop {name}");
                if (!request.DryRun)
                {
                    await containers.StopAsync(name, cancellationToken);
                    stopped.Add(name);
                }
            }

            foreach (var archive in archives)
            {
                var container = archive.Container ?? manifest.Container;
                var target = archive.Target ?? SourcePath(archive.Source);
                var parent = ParentOf(target);
                Step($"extract {archive.Name} into {container}:{parent} (restores {target})");
                if (!request.DryRun)
                {
                    // Docker's archive API takes the gzip as it is and unpacks it itself.
                    await using var content = await store.OpenAsync(manifest.Id, archive.Name, cancellationToken);
                    await containers.ExtractAsync(container, parent, content, cancellationToken);
                }
            }

            foreach (var database in databases.Where(name => stopped.Contains(name) || !status[name].Running))
            {
                Step($"start {database} and wait until it is healthy (pg_restore needs the server)");
                if (!request.DryRun)
                {
                    await containers.StartAsync(database, cancellationToken);
                    stopped.Remove(database);
                    var ready = await gate.WaitAsync(database, cancellationToken);
                    if (!ready.Passed)
                    {
                        throw new BackupSourceException($"{database} did not become healthy for the database restore: {ready.Detail}");
                    }
                }
            }

            foreach (var dump in dumps)
            {
                var container = dump.Container ?? manifest.Container;
                var database = dump.Target ?? throw new BackupSourceException($"{dump.Name} names no database");
                // --create drops and recreates the database itself, so tables a newer version added go too.
                var maintenance = database == "postgres" ? "template1" : "postgres";
                Step($"pg_restore --clean --create {dump.Name} in {container} (database {database} is dropped and recreated)");
                if (!request.DryRun)
                {
                    await RestoreDatabaseAsync(manifest.Id, dump, container, database, maintenance, cancellationToken);
                }
            }
        }
        catch (Exception e)
        {
            await StartAgainAsync(stopped, steps, request.SetId);
            LogFailed(logger, request.SetId, e.Message);
            return new RestoreReport(manifest.Id, request.DryRun, false, steps, e.Message);
        }

        var toStart = stopped.Concat(request.StartAll ? involved.Where(name => !status[name].Running && !databases.Contains(name)) : []).Distinct().ToList();
        if (request.DryRun)
        {
            toStart = involved.Where(name => toStop.Contains(name) && (status[name].Running || request.StartAll)).ToList();
        }

        foreach (var name in toStart)
        {
            Step($"start {name}");
            if (request.DryRun)
            {
                continue;
            }

            try
            {
                await containers.StartAsync(name, cancellationToken);
                stopped.Remove(name);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                await StartAgainAsync(stopped, steps, request.SetId);
                return new RestoreReport(manifest.Id, request.DryRun, false, steps, $"{name} did not start after the restore: {e.Message}");
            }
        }

        if (request.RunHealthGate)
        {
            var failures = new List<string>();
            foreach (var name in involved.Where(name => toStart.Contains(name) || databases.Contains(name) || status[name].Running))
            {
                Step($"health gate: {name}");
                if (!request.DryRun)
                {
                    var result = await gate.WaitAsync(name, cancellationToken);
                    Step($"health gate: {name}: {(result.Passed ? "passed" : "failed")}, {result.Detail}");
                    if (!result.Passed)
                    {
                        failures.Add($"{name}: {result.Detail}");
                    }
                }
            }

            if (failures.Count > 0)
            {
                return new RestoreReport(manifest.Id, request.DryRun, false, steps, $"restored, but not healthy: {string.Join("; ", failures)}");
            }
        }

        return new RestoreReport(manifest.Id, request.DryRun, true, steps, null);
    }

    private async Task RestoreDatabaseAsync(string setId, BackupObject dump, string container, string database, string maintenance, CancellationToken cancellationToken)
    {
        var status = await containers.StatusAsync(container, cancellationToken)
            ?? throw new BackupSourceException($"container {container} disappeared during the restore");
        var (user, _) = await planner.PostgresConnectionAsync(status, cancellationToken);
        var environment = await planner.PostgresEnvironmentAsync(container, user, cancellationToken);
        await using var content = await store.OpenAsync(setId, dump.Name, cancellationToken);
        var result = await containers.ExecWriteAsync(
            container,
            ["pg_restore", "--clean", "--create", "--if-exists", "--exit-on-error", "--no-password", "--dbname", maintenance],
            environment,
            content,
            cancellationToken);
        if (!result.Succeeded)
        {
            throw new BackupSourceException($"pg_restore of {database} in {container} {result.Describe()}: {result.Output.Trim()}");
        }
    }

    /// <summary>Reads the whole object and checks it against the manifest before anything is touched.</summary>
    private async Task VerifyAsync(string setId, BackupObject item, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long size = 0;
        var buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            await using var content = await store.OpenAsync(setId, item.Name, cancellationToken);
            int read;
            while ((read = await content.ReadAsync(buffer.AsMemory(0, 1 << 20), cancellationToken)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                size += read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        var sha256 = Convert.ToHexStringLower(hash.GetHashAndReset());
        if (size != item.Size || sha256 != item.Sha256)
        {
            throw new RestoreRefusedException($"{item.Name} of set {setId} is {size} bytes with sha256 {sha256}, but the manifest says {item.Size} bytes with {item.Sha256}: the set is damaged, restore another one");
        }
    }

    /// <summary>Never leaves a container stopped, even when the restore failed.</summary>
    private async Task StartAgainAsync(List<string> stopped, List<string> steps, string setId)
    {
        foreach (var name in stopped)
        {
            try
            {
                await containers.StartAsync(name, CancellationToken.None);
                steps.Add($"start {name} (after the failure)");
            }
            catch (Exception e)
            {
                steps.Add($"start {name} failed: {e.Message}");
                LogFailed(logger, setId, $"could not start {name} again: {e.Message}");
            }
        }
    }

    private static string SourcePath(string source) => source[(source.IndexOf(':', StringComparison.Ordinal) + 1)..];

    private static string ParentOf(string path)
    {
        var trimmed = path.TrimEnd('/');
        var slash = trimmed.LastIndexOf('/');
        return slash <= 0 ? "/" : trimmed[..slash];
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Restore {SetId} (dry run: {DryRun}): {Step}")]
    private static partial void LogStep(ILogger logger, string setId, bool dryRun, string step);

    [LoggerMessage(Level = LogLevel.Error, Message = "Restore {SetId} failed: {Error}")]
    private static partial void LogFailed(ILogger logger, string setId, string error);
}
