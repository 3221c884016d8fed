using Microsoft.Extensions.Options;
using WebhookUpdater.Swarm;

namespace WebhookUpdater.Backups;

/// <summary>
/// Backups and restores of Swarm services, made where the data is: on the node of the service's
/// task, by an agent (this service's own image, <see cref="SwarmAgentCommand"/>) that Swarm runs
/// as a one-off job there. The manager waits for the job and then checks the set's manifest in
/// the store with its own key: a set counts only when the manifest is there and trusted.
/// </summary>
public interface ISwarmBackups
{
    /// <summary>The services whose labels ask for a backup; none when the engine is no Swarm manager.</summary>
    Task<IReadOnlyList<ServiceInfo>> BackedUpServicesAsync(CancellationToken cancellationToken);

    /// <summary>The service of this name (a set's container, an operator's name), or null when it names none (or the engine is no Swarm manager).</summary>
    Task<ServiceInfo?> ServiceAsync(string name, CancellationToken cancellationToken);

    /// <summary>One complete, signed set of the service, made on its node; throws <see cref="BackupSourceException"/> when there is none.</summary>
    Task<BackupManifest> BackupAsync(ServiceInfo service, string kind, string? jobId, string? imageId, CancellationToken cancellationToken);

    /// <summary>Restores the (verified) set into the service's running task, on its node; a dry run only says where it would run.</summary>
    Task<RestoreReport> RestoreAsync(ServiceInfo service, VerifiedSet verified, bool dryRun, CancellationToken cancellationToken);
}

internal sealed partial class SwarmBackups(
    ISwarmServices swarm,
    ISwarmJobs jobs,
    IBackupStore store,
    BackupManifestSigner signer,
    IOptions<SwarmOptions> options,
    IOptions<BackupOptions> backupOptions,
    TimeProvider time,
    ILogger<SwarmBackups> logger) : ISwarmBackups
{
    /// <summary>Every agent job and secret carries it, so they can be found and cleaned up.</summary>
    public const string AgentLabel = "webhook-updater.agent";

    private const string SecretsFolder = "/run/secrets/";
    private const string KeySecret = "wu-backup-signing-key";
    private const string CredentialsSecret = "wu-aws-credentials";

    public async Task<IReadOnlyList<ServiceInfo>> BackedUpServicesAsync(CancellationToken cancellationToken) =>
        await swarm.IsManagerAsync(cancellationToken)
            ? (await swarm.ListAsync(cancellationToken)).Where(s => BackupLabels.AsksForBackup(s.Labels)).OrderBy(s => s.Name, StringComparer.Ordinal).ToList()
            : [];

    public async Task<ServiceInfo?> ServiceAsync(string name, CancellationToken cancellationToken) =>
        await swarm.IsManagerAsync(cancellationToken) && await swarm.FindAsync(name, cancellationToken) is { } service && service.Name == name ? service : null;

    public async Task<BackupManifest> BackupAsync(ServiceInfo service, string kind, string? jobId, string? imageId, CancellationToken cancellationToken)
    {
        RequireSharedStore(service.Name);
        var setId = BackupNames.NewSetId(time.GetUtcNow(), kind, service.Name);
        await RunAgentAsync(new SwarmAgentRequest(SwarmAgentCommand.Backup, service.Name, service.Id, setId, kind, jobId, imageId, service.Labels), await TaskNodeAsync(service, cancellationToken), cancellationToken);
        var manifest = await store.ManifestAsync(setId, cancellationToken)
            ?? throw new BackupSourceException($"the agent of {service.Name} ended complete, but set {setId} has no manifest in {store.Describe()}");
        if (signer.Check(manifest) != ManifestTrust.Trusted)
        {
            throw new BackupSourceException($"set {setId} of {service.Name} is not signed with this installation's key: the agent got another Backups:SigningKey");
        }

        return manifest;
    }

    public async Task<RestoreReport> RestoreAsync(ServiceInfo service, VerifiedSet verified, bool dryRun, CancellationToken cancellationToken)
    {
        var manifest = verified.Manifest;
        RequireSharedStore(service.Name);
        var steps = verified.Steps.ToList();
        if (manifest.Objects.Any(o => o.Type == BackupObjectTypes.Archive))
        {
            return await RestorePathsAsync(service, manifest, steps, dryRun, cancellationToken);
        }

        if (dryRun)
        {
            steps.Add($"an agent job on the node of {service.Name}'s task would restore {manifest.Id} into it (pg_restore --clean --create)");
            return new RestoreReport(manifest.Id, DryRun: true, Succeeded: true, steps, null);
        }

        try
        {
            var node = await RunAgentAsync(new SwarmAgentRequest(SwarmAgentCommand.Restore, service.Name, service.Id, manifest.Id, manifest.Kind, null, null, service.Labels), await TaskNodeAsync(service, cancellationToken), cancellationToken);
            steps.Add($"an agent job on node {node} restored {manifest.Id} into the task of {service.Name}");
            return new RestoreReport(manifest.Id, DryRun: false, Succeeded: true, steps, null);
        }
        catch (BackupSourceException e)
        {
            return new RestoreReport(manifest.Id, DryRun: false, Succeeded: false, steps, e.Message);
        }
    }

    /// <summary>
    /// Files go back only while nothing runs on them: the service is scaled to 0 (the count kept in a
    /// label, so a restart scales it back), the agent writes through a stand-in container with the
    /// service's mounts on the node its task ran on, and the service gets its count back whatever happened.
    /// </summary>
    private async Task<RestoreReport> RestorePathsAsync(ServiceInfo service, BackupManifest manifest, List<string> steps, bool dryRun, CancellationToken cancellationToken)
    {
        if (manifest.Objects.Any(o => o.Type != BackupObjectTypes.Archive))
        {
            throw new RestoreRefusedException($"set {manifest.Id} of service {service.Name} holds a database and paths: the paths are put back with the service scaled to 0 and the database needs it running; restore a set of each kind instead");
        }

        if (service.Replicas is null)
        {
            throw new RestoreRefusedException($"service {service.Name} is not replicated (global, or a job): its paths are restored only by scaling it to 0, which needs a replicated service");
        }

        if (service.Mounts.Count == 0)
        {
            throw new RestoreRefusedException($"service {service.Name} mounts no volume or bind: a task's own files are gone with its task, so there is nowhere to put set {manifest.Id} back");
        }

        // A restore cut short by a restart left the service at 0, with the node its task ran on.
        var resumed = service.Labels.ContainsKey(SwarmLabels.ScaledDownFrom) && service.Labels.ContainsKey(SwarmLabels.ScaledDownOn);
        var node = resumed ? service.Labels[SwarmLabels.ScaledDownOn] : await TaskNodeAsync(service, cancellationToken);
        var mounts = string.Join(", ", service.Mounts.Select(m => $"{m.Source}:{m.Destination}"));
        if (dryRun)
        {
            steps.Add($"scale {service.Name} from {service.Replicas} task(s) to 0 (label {SwarmLabels.ScaledDownFrom} keeps the count)");
            steps.Add($"an agent job on node {node} would put the paths of {manifest.Id} back through a stopped stand-in container with {mounts}");
            steps.Add($"scale {service.Name} back to {service.Replicas} task(s)");
            return new RestoreReport(manifest.Id, DryRun: true, Succeeded: true, steps, null);
        }

        var settings = options.Value;
        var count = await swarm.ScaleDownAsync(service.Id, node, cancellationToken);
        steps.Add(resumed ? $"{service.Name} is still scaled to 0 by the restore a restart cut short (it had {count} task(s))" : $"scaled {service.Name} from {count} task(s) to 0");
        LogScaledDown(logger, service.Name, count, manifest.Id);
        string? error = null;
        try
        {
            if (!await WaitForTasksAsync(service.Id, running => running == 0, settings.UpdateTimeout, cancellationToken))
            {
                throw new BackupSourceException($"the task of {service.Name} did not stop within Swarm:UpdateTimeout ({settings.UpdateTimeout})");
            }

            var request = new SwarmAgentRequest(SwarmAgentCommand.Restore, service.Name, service.Id, manifest.Id, manifest.Kind, null, null, service.Labels) { Mounts = service.Mounts };
            await RunAgentAsync(request, node, cancellationToken);
            steps.Add($"an agent job on node {node} put the paths of {manifest.Id} back through a stopped stand-in container with {mounts}");
        }
        catch (BackupSourceException e)
        {
            error = e.Message;
        }
        finally
        {
            // Whatever happened: a service left at 0 is an outage.
            await swarm.ScaleBackAsync(service.Id, CancellationToken.None);
            steps.Add($"scaled {service.Name} back to {count} task(s)");
            LogScaledBack(logger, service.Name, count);
        }

        if (error is null && !await WaitForTasksAsync(service.Id, running => running > 0, settings.UpdateTimeout, cancellationToken))
        {
            error = $"restored, but no task of {service.Name} runs again within Swarm:UpdateTimeout ({settings.UpdateTimeout}): {await swarm.TaskErrorsAsync(service.Id, cancellationToken)}";
        }

        return new RestoreReport(manifest.Id, DryRun: false, Succeeded: error is null, steps, error);
    }

    /// <summary>The node of the service's one running task; throws when it has none or runs on several.</summary>
    private async Task<string> TaskNodeAsync(ServiceInfo service, CancellationToken cancellationToken)
    {
        var nodes = await jobs.NodesOfAsync(service.Id, cancellationToken);
        return nodes.Count switch
        {
            1 => nodes[0],
            0 => throw new BackupSourceException($"service {service.Name} has no running task: its data is backed up and restored where its task runs"),
            _ => throw new BackupSourceException($"service {service.Name} runs on {nodes.Count} nodes: only a service of one task (a database, gitea) is backed up and restored"),
        };
    }

    private async Task<bool> WaitForTasksAsync(string serviceId, Func<int, bool> done, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var until = time.GetUtcNow() + timeout;
        while (!done((await jobs.NodesOfAsync(serviceId, cancellationToken)).Count))
        {
            if (time.GetUtcNow() >= until)
            {
                return false;
            }

            await Task.Delay(options.Value.PollInterval, time, cancellationToken);
        }

        return true;
    }

    private void RequireSharedStore(string service)
    {
        if (backupOptions.Value.Store != BackupStores.S3)
        {
            throw new BackupSourceException(
                $"service {service} has backup labels, and a Swarm service's sets are made on the node where its task runs: they need a store every node reaches. Set Backups:Store=S3 (Backups__Store=S3, with Backups__Bucket); Backups:Store={backupOptions.Value.Store} keeps sets on one node only");
        }
    }

    /// <summary>Runs the agent as a job on the node; returns the node, or throws with the agent's last lines.</summary>
    private async Task<string> RunAgentAsync(SwarmAgentRequest request, string node, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var image = settings.AgentImage is { Length: > 0 } configured ? configured
            : await jobs.OwnImageAsync(cancellationToken)
                ?? throw new BackupSourceException("the image of the backup agent is unknown (this service does not run in a container): set Swarm:AgentImage to webhook-updater's image");
        request = request.Mounts is null ? request : request with { HolderImage = image };
        var secrets = await SecretsAsync(cancellationToken);
        // An agent of this service left by a stop of webhook-updater: it ends (or is waited for) and goes first.
        var cleared = await jobs.ClearLeftoversAsync($"{AgentLabel}.service", request.Service, settings.AgentTimeout, settings.PollInterval, cancellationToken);
        if (cleared > 0)
        {
            LogLeftoversCleared(logger, cleared, request.Service);
        }

        var name = $"wu-agent-{request.Verb}-{Guid.NewGuid().ToString("N")[..10]}";
        LogAgentStarted(logger, name, request.Verb, request.Service, node, request.SetId);
        var end = await jobs.RunAsync(new SwarmJob(
            name,
            image,
            request.Arguments(),
            AgentEnvironment(secrets),
            new Dictionary<string, string> { [AgentLabel] = request.Verb, [$"{AgentLabel}.service"] = request.Service, [$"{AgentLabel}.set"] = request.SetId },
            node,
            settings.AgentDockerSocket,
            secrets,
            settings.AgentNetwork), settings.AgentTimeout, settings.PollInterval, cancellationToken);
        if (end is null)
        {
            throw new BackupSourceException($"the {request.Verb} agent of {request.Service} on node {node} did not end within Swarm:AgentTimeout ({settings.AgentTimeout}); it was removed");
        }

        if (!end.Completed)
        {
            throw new BackupSourceException(
                $"the {request.Verb} agent of {request.Service} on node {node} ended {end.State}{(string.IsNullOrEmpty(end.Error) ? "" : $" ({end.Error})")}: {end.Output}");
        }

        return node;
    }

    /// <summary>The signing key and the S3 credentials file as Docker secrets, never as values in the job's spec.</summary>
    private async Task<IReadOnlyList<SwarmJobSecret>> SecretsAsync(CancellationToken cancellationToken)
    {
        var backups = backupOptions.Value;
        var location = backups.ProfilesLocation is { Length: > 0 } path
            ? path
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".aws", "credentials");
        if (!File.Exists(location))
        {
            throw new BackupSourceException(
                $"the agent of a Swarm service gets the S3 credentials as a Docker secret made from the credentials file, and {location} does not exist: set Backups:ProfilesLocation (and Backups:Profile) to an AWS credentials file");
        }

        return
        [
            await jobs.SecretAsync(KeySecret, backups.SigningKeyBytes, AgentLabel, cancellationToken),
            await jobs.SecretAsync(CredentialsSecret, await File.ReadAllBytesAsync(location, cancellationToken), AgentLabel, cancellationToken),
        ];
    }

    /// <summary>The store's settings, none of them secret; the key and the credentials are files of Docker secrets.</summary>
    private List<string> AgentEnvironment(IReadOnlyList<SwarmJobSecret> secrets)
    {
        var o = backupOptions.Value;
        return
        [
            "DOCKER_HOST=unix:///var/run/docker.sock",
            "Store__DataDirectory=/data",
            $"Backups__Store={o.Store}",
            $"Backups__Bucket={o.Bucket}",
            $"Backups__Prefix={o.Prefix}",
            $"Backups__Region={o.Region}",
            $"Backups__ServiceUrl={o.ServiceUrl}",
            $"Backups__ForcePathStyle={o.ForcePathStyle}",
            $"Backups__ServerSideEncryption={o.ServerSideEncryption}",
            $"Backups__StorageClass={o.StorageClass}",
            $"Backups__PartSizeMiB={o.PartSizeMiB}",
            $"Backups__UseChunkEncoding={o.UseChunkEncoding}",
            $"Backups__AlwaysReadBack={o.AlwaysReadBack}",
            $"Backups__RequestTimeout={o.RequestTimeout}",
            $"Backups__MaxRetries={o.MaxRetries}",
            $"Backups__KeepDaily={o.KeepDaily}",
            $"Backups__KeepPreUpdate={o.KeepPreUpdate}",
            $"Backups__KeepManual={o.KeepManual}",
            $"Backups__Profile={(string.IsNullOrEmpty(o.Profile) ? "default" : o.Profile)}",
            "Backups__Schedule=",
            "Backups__RestoreTestSchedule=",
            $"Backups__SigningKey_FILE={SecretsFolder}{secrets.Single(s => s.File == KeySecret).File}",
            $"Backups__ProfilesLocation={SecretsFolder}{secrets.Single(s => s.File == CredentialsSecret).File}",
        ];
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Removed {Count} agent job(s) of service {Service} left by an earlier run of webhook-updater")]
    private static partial void LogLeftoversCleared(ILogger logger, int count, string service);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Service {Service} scaled from {Count} task(s) to 0 to put the paths of set {SetId} back")]
    private static partial void LogScaledDown(ILogger logger, string service, ulong count, string setId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Service {Service} scaled back to {Count} task(s)")]
    private static partial void LogScaledBack(ILogger logger, string service, ulong count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Agent job {Job}: {Verb} of service {Service} on node {Node}, set {SetId}")]
    private static partial void LogAgentStarted(ILogger logger, string job, string verb, string service, string node, string setId);
}
