using System.Buffers;
using System.Security.Cryptography;
using WebhookUpdater.Containers;
using WebhookUpdater.Health;

namespace WebhookUpdater.Backups;

/// <summary>What a restore did, or would do (dry run), step by step.</summary>
public sealed record RestoreReport(string SetId, bool DryRun, bool Succeeded, IReadOnlyList<string> Steps, string? Error);

/// <summary>What an adoption found, and whether the set is now signed.</summary>
public sealed record AdoptReport(BackupManifest Manifest, ManifestTrust Trust, bool Adopted, IReadOnlyList<string> Steps);

/// <param name="RunHealthGate">False when the caller runs its own gate (the pipeline's rollback).</param>
/// <param name="StartAll">Also start the set's containers that were stopped before the restore (the rollback starts its own).</param>
/// <param name="Verified">The set as <see cref="BackupRestorer.VerifyAsync"/> checked it just before; null: check it now.</param>
public sealed record RestoreRequest(string SetId, bool DryRun = false, bool RunHealthGate = true, bool StartAll = true, VerifiedSet? Verified = null);

/// <summary>A set whose signature and every object matched its manifest, with the steps that checked it. Checking touches no container.</summary>
public sealed record VerifiedSet(BackupManifest Manifest, IReadOnlyList<string> Steps);

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
    IContainerLookup lookup,
    IContainerActions containers,
    BackupPlanner planner,
    BackupManifestSigner signer,
    Microsoft.Extensions.Options.IOptions<BackupOptions> options,
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

        var verified = request.Verified is { } checkedBefore && checkedBefore.Manifest.Id == request.SetId
            ? checkedBefore
            : await VerifyAsync(request.SetId, cancellationToken);
        var manifest = verified.Manifest;
        foreach (var step in verified.Steps)
        {
            Step(step);
        }

        await CheckTargetsAsync(manifest, cancellationToken);
        Step($"targets of set {manifest.Id}: every container, path and database asks for this backup today");

        var involved = manifest.Objects.Select(o => o.Container ?? manifest.Container).Prepend(manifest.Container).Distinct(StringComparer.Ordinal).ToList();
        var status = new Dictionary<string, ContainerInfo>(StringComparer.Ordinal);
        foreach (var name in involved)
        {
            status[name] = await lookup.FindAsync(name, cancellationToken)
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
                await EmptyAsync(container, target, request.DryRun, Step, cancellationToken);
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

    /// <summary>
    /// Checks a set without touching any container: its id and object names, this installation's
    /// signature, and every object's size and SHA-256 against the manifest. Throws
    /// <see cref="RestoreRefusedException"/> for a set that must not be restored.
    /// </summary>
    public async Task<VerifiedSet> VerifyAsync(string setId, CancellationToken cancellationToken)
    {
        var manifest = await ReadManifestAsync(setId, cancellationToken);
        switch (signer.Check(manifest))
        {
            case ManifestTrust.NoSignature:
                throw new RestoreRefusedException($"set {manifest.Id} is not signed: it was written before backup sets were signed, or not by this service. If it is yours, check and adopt it on the server: dotnet WebhookUpdater.dll adopt {manifest.Id} (docs/backups.md, \"Sets from elsewhere\")");
            case ManifestTrust.Mismatch:
                throw new RestoreRefusedException($"set {manifest.Id} does not carry this installation's signature: its manifest was changed in the store, or another installation (another Backups:SigningKey) wrote it. Restore another set; a set of another installation can be adopted on the server: dotnet WebhookUpdater.dll adopt {manifest.Id}");
        }

        var steps = new List<string> { $"signature of set {manifest.Id}: made by this installation" };
        foreach (var item in manifest.Objects)
        {
            await VerifyAsync(manifest.Id, item, cancellationToken);
            steps.Add($"verified {item.Name}: {item.Size} bytes, sha256 {item.Sha256}");
        }

        return new VerifiedSet(manifest, steps);
    }

    /// <summary>
    /// Adopts a set this installation did not sign (written before signing, or by another
    /// installation): checks it as a restore would (id, object names, today's labels of its
    /// containers, every object against the manifest) and, when <paramref name="confirmed"/>,
    /// signs its manifest with this installation's key. Changes no container.
    /// </summary>
    public async Task<AdoptReport> AdoptAsync(string setId, bool confirmed, CancellationToken cancellationToken)
    {
        var manifest = await ReadManifestAsync(setId, cancellationToken);
        var trust = signer.Check(manifest);
        if (trust == ManifestTrust.Trusted)
        {
            return new AdoptReport(manifest, trust, Adopted: false, ["the set is already signed by this installation: nothing to adopt"]);
        }

        var steps = new List<string>
        {
            trust == ManifestTrust.NoSignature ? "the manifest carries no signature" : "the manifest carries another key's signature (or was changed since it was signed)",
        };
        await CheckTargetsAsync(manifest, cancellationToken);
        foreach (var item in manifest.Objects)
        {
            var target = item.Target ?? SourcePath(item.Source);
            steps.Add(item.Type == BackupObjectTypes.PostgresDump
                ? $"{item.Name}: database {target} in container {item.Container ?? manifest.Container} (dropped and recreated by a restore)"
                : $"{item.Name}: path {target} in container {item.Container ?? manifest.Container} (replaced by a restore)");
        }

        foreach (var item in manifest.Objects)
        {
            await VerifyAsync(manifest.Id, item, cancellationToken);
            steps.Add($"verified {item.Name}: {item.Size} bytes, sha256 {item.Sha256}");
        }

        if (!confirmed)
        {
            return new AdoptReport(manifest, trust, Adopted: false, steps);
        }

        await store.CompleteAsync(signer.Sign(manifest with { Signature = null }), cancellationToken);
        LogAdopted(logger, manifest.Id, trust.ToString());
        steps.Add("signed with this installation's key: the set can be restored");
        return new AdoptReport(manifest, trust, Adopted: true, steps);
    }

    private async Task<BackupManifest> ReadManifestAsync(string setId, CancellationToken cancellationToken)
    {
        if (!BackupNames.IsSafe(setId))
        {
            throw new RestoreRefusedException($"'{setId}' is not a backup set id (GET /api/backups lists them)", notFound: true);
        }

        BackupManifest? manifest;
        try
        {
            manifest = await store.ManifestAsync(setId, cancellationToken);
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new RestoreRefusedException($"the manifest of set {setId} is not valid JSON ({e.Message}): the set is damaged, restore another one");
        }

        if (manifest is null)
        {
            throw new RestoreRefusedException($"set {setId} has no manifest: it does not exist or is incomplete, and cannot be restored (GET /api/backups lists the complete ones)", notFound: true);
        }

        if (manifest.Id != setId)
        {
            throw new RestoreRefusedException($"the manifest stored under set {setId} names set '{manifest.Id}': a set copied or renamed in the store is not restored. Restore {manifest.Id} itself, or another set");
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in manifest.Objects ?? [])
        {
            if (!BackupNames.IsSafe(item.Name) || item.Name == BackupNames.ManifestName || !names.Add(item.Name))
            {
                throw new RestoreRefusedException($"set {setId} lists the object '{item.Name}' more than once or under a name this service never writes: the set is damaged, restore another one");
            }

            if (item.Type is not (BackupObjectTypes.Archive or BackupObjectTypes.PostgresDump))
            {
                throw new RestoreRefusedException($"set {setId} holds {item.Name} of type '{item.Type}', which this service does not restore");
            }
        }

        return manifest;
    }

    /// <summary>
    /// A restore writes only what a backup of the set's container would take today: each object's
    /// container must exist and carry the labels (backup.paths, backup.postgres, backup.with, or
    /// the default of all data mounts) that name its path or database.
    /// </summary>
    private async Task CheckTargetsAsync(BackupManifest manifest, CancellationToken cancellationToken)
    {
        IReadOnlyList<BackupSource> plan;
        try
        {
            plan = await planner.PlanAsync(manifest.Container, cancellationToken);
        }
        catch (BackupSourceException e)
        {
            throw new RestoreRefusedException($"set {manifest.Id} cannot be matched to today's containers: {e.Message}. Create the container (same name, labels and volumes) first");
        }

        foreach (var item in manifest.Objects)
        {
            var container = item.Container ?? manifest.Container;
            var target = Normalize(item.Target ?? SourcePath(item.Source));
            if (!plan.Any(source => source.Container == container && source.Type == item.Type && Normalize(source.Target) == target))
            {
                var what = item.Type == BackupObjectTypes.PostgresDump ? $"database {target}" : $"path {target}";
                var asks = plan.Count == 0 ? "nothing" : string.Join(", ", plan.Select(source => source.Describe()));
                throw new RestoreRefusedException(
                    $"set {manifest.Id} restores {item.Name} into {what} of container {container}, but the labels of {manifest.Container} and its {BackupLabels.With} containers do not ask for it today (they ask for: {asks}): nothing is restored into a container, path or database that is not labelled for it. Restore another set, or fix the labels ({BackupLabels.Paths}, {BackupLabels.Postgres}, {BackupLabels.With}) if they were changed by mistake");
            }
        }
    }

    /// <summary>
    /// Docker's archive API only adds and overwrites: what was written after the backup would stay
    /// beside the restored files. A path on a volume or bind is emptied first (the set is verified
    /// by now), so the extract leaves exactly the backed-up tree. The emptying runs in a throwaway
    /// container of the target's own image (Backups:RestoreHelperImage for images without a shell)
    /// with the target's volumes; a path in the container's own layer is extracted over.
    /// </summary>
    private async Task EmptyAsync(string container, string target, bool dryRun, Action<string> step, CancellationToken cancellationToken)
    {
        var path = Normalize(target);
        var found = await lookup.FindAsync(container, cancellationToken) ?? throw new BackupSourceException($"container {container} disappeared during the restore");
        var mounts = found.Mounts;
        if (!mounts.Any(mount => path == Normalize(mount.Destination) || path.StartsWith(Normalize(mount.Destination).TrimEnd('/') + "/", StringComparison.Ordinal)))
        {
            step($"{container}:{path} is not on a volume or bind: extracted over (files added since the backup stay)");
            return;
        }

        var image = options.Value.RestoreHelperImage is { Length: > 0 } helper ? helper
            : found.ImageId;
        step($"empty {container}:{path} (a throwaway container of {ShortImage(image)} with its volumes): what was written after the backup goes");
        if (dryRun)
        {
            return;
        }

        // A directory loses its contents (dot files too), a file or link goes; the extract recreates them.
        const string Script = "if [ -d \"$1\" ] && [ ! -L \"$1\" ]; then rm -rf -- \"$1\"/* \"$1\"/.[!.]* \"$1\"/..?*; else rm -f -- \"$1\"; fi";
        var result = await containers.RunWithVolumesOfAsync(container, image, ["sh", "-c", Script, "sh", path], options.Value.RestoreHelperTimeout, cancellationToken);
        if (result.ExitCode != 0)
        {
            throw new BackupSourceException($"emptying {container}:{path} before the extract failed (exit {result.ExitCode}): {result.Output.Trim()}. If the image of {container} has no shell, set Backups:RestoreHelperImage to a local image that has sh and rm (e.g. busybox)");
        }
    }

    private static string ShortImage(string image) => image.StartsWith("sha256:", StringComparison.Ordinal) ? image[..19] : image;

    private static string Normalize(string target) => target.Length > 1 ? target.TrimEnd('/') : target;

    private async Task RestoreDatabaseAsync(string setId, BackupObject dump, string container, string database, string maintenance, CancellationToken cancellationToken)
    {
        var status = await lookup.FindAsync(container, cancellationToken)
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Adopted set {SetId} (it was {Trust}): signed with this installation's key")]
    private static partial void LogAdopted(ILogger logger, string setId, string trust);

    [LoggerMessage(Level = LogLevel.Error, Message = "Restore {SetId} failed: {Error}")]
    private static partial void LogFailed(ILogger logger, string setId, string error);
}
