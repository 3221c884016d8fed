using System.Security.Cryptography;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Options;
using WebhookUpdater.Backups;
using WebhookUpdater.Containers;

namespace WebhookUpdater.Swarm;

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

    /// <summary>Restores the (verified) set into the service's running task, on its node.</summary>
    Task<RestoreReport> RestoreAsync(ServiceInfo service, VerifiedSet verified, CancellationToken cancellationToken);
}

internal sealed partial class SwarmBackups(
    DockerApi engine,
    ISwarmServices swarm,
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

    private readonly DockerClient _docker = engine.Client;

    public async Task<IReadOnlyList<ServiceInfo>> BackedUpServicesAsync(CancellationToken cancellationToken) =>
        await swarm.IsManagerAsync(cancellationToken)
            ? (await swarm.ListAsync(cancellationToken)).Where(s => BackupLabels.AsksForBackup(s.Labels) && !s.Labels.ContainsKey(AgentLabel)).OrderBy(s => s.Name, StringComparer.Ordinal).ToList()
            : [];

    public async Task<ServiceInfo?> ServiceAsync(string name, CancellationToken cancellationToken) =>
        await swarm.IsManagerAsync(cancellationToken) && await swarm.FindAsync(name, cancellationToken) is { } service && service.Name == name ? service : null;

    public async Task<BackupManifest> BackupAsync(ServiceInfo service, string kind, string? jobId, string? imageId, CancellationToken cancellationToken)
    {
        RequireSharedStore(service.Name);
        var setId = BackupNames.NewSetId(time.GetUtcNow(), kind, service.Name);
        await RunAgentAsync(new SwarmAgentRequest(SwarmAgentCommand.Backup, service.Name, service.Id, setId, kind, jobId, imageId, service.Labels), cancellationToken);
        var manifest = await store.ManifestAsync(setId, cancellationToken)
            ?? throw new BackupSourceException($"the agent of {service.Name} ended complete, but set {setId} has no manifest in {store.Describe()}");
        if (signer.Check(manifest) != ManifestTrust.Trusted)
        {
            throw new BackupSourceException($"set {setId} of {service.Name} is not signed with this installation's key: the agent got another Backups:SigningKey");
        }

        return manifest;
    }

    public async Task<RestoreReport> RestoreAsync(ServiceInfo service, VerifiedSet verified, CancellationToken cancellationToken)
    {
        var manifest = verified.Manifest;
        RequireSharedStore(service.Name);
        if (manifest.Objects.Any(o => o.Type == BackupObjectTypes.Archive))
        {
            // Putting files back means stopping the task, and Swarm would start another one meanwhile.
            throw new RestoreRefusedException($"set {manifest.Id} of service {service.Name} holds paths: a service's paths are not restored by the updater (its databases are); scale the service to 0 and copy them back by hand");
        }

        var steps = verified.Steps.ToList();
        var node = await NodeOfAsync(service, cancellationToken);
        steps.Add($"restore {manifest.Id} into {service.Name} by an agent job on node {node}");
        try
        {
            await RunAgentAsync(new SwarmAgentRequest(SwarmAgentCommand.Restore, service.Name, service.Id, manifest.Id, manifest.Kind, null, null, service.Labels), cancellationToken);
        }
        catch (BackupSourceException e)
        {
            return new RestoreReport(manifest.Id, DryRun: false, Succeeded: false, steps, e.Message);
        }

        steps.Add($"the agent restored {manifest.Id}");
        return new RestoreReport(manifest.Id, DryRun: false, Succeeded: true, steps, null);
    }

    private void RequireSharedStore(string service)
    {
        if (backupOptions.Value.Store != BackupStores.S3)
        {
            throw new BackupSourceException(
                $"service {service} has backup labels, and a Swarm service's sets are made on the node where its task runs: they need a store every node reaches. Set Backups:Store=S3 (Backups__Store=S3, with Backups__Bucket); Backups:Store={backupOptions.Value.Store} keeps sets on one node only");
        }
    }

    /// <summary>Creates the job on the task's node, waits for its end, and removes it; throws with the agent's last lines when it failed.</summary>
    private async Task RunAgentAsync(SwarmAgentRequest request, CancellationToken cancellationToken)
    {
        var service = await swarm.FindAsync(request.ServiceId, cancellationToken)
            ?? throw new BackupSourceException($"service {request.Service} was removed");
        var node = await NodeOfAsync(service, cancellationToken);
        var image = await AgentImageAsync(cancellationToken);
        var secrets = await SecretsAsync(cancellationToken);
        var name = $"wu-agent-{request.Verb}-{Guid.NewGuid().ToString("N")[..10]}";
        var settings = options.Value;
        var created = await _docker.Swarm.CreateServiceAsync(new ServiceCreateParameters
        {
            Service = new ServiceSpec
            {
                Name = name,
                Labels = new Dictionary<string, string> { [AgentLabel] = request.Verb, [$"{AgentLabel}.service"] = request.Service, [$"{AgentLabel}.set"] = request.SetId },
                Mode = new ServiceMode { ReplicatedJob = new ReplicatedJob { MaxConcurrent = 1, TotalCompletions = 1 } },
                TaskTemplate = new TaskSpec
                {
                    ContainerSpec = new ContainerSpec
                    {
                        Image = image,
                        Args = request.Arguments(),
                        Env = AgentEnvironment(secrets),
                        // The node's socket belongs to a group the manager cannot know; the socket is root on that node anyway.
                        User = "0:0",
                        Mounts = [new Mount { Type = "bind", Source = settings.AgentDockerSocket, Target = "/var/run/docker.sock" }, new Mount { Type = "tmpfs", Target = "/data" }],
                        Secrets = secrets.Select(secret => new SecretReference
                        {
                            SecretID = secret.Id,
                            SecretName = secret.Name,
                            File = new SecretReferenceFileTarget { Name = secret.File, UID = "0", GID = "0", Mode = Convert.ToUInt32("400", 8) },
                        }).ToList(),
                    },
                    Placement = new Placement { Constraints = [$"node.id=={node}"] },
                    RestartPolicy = new SwarmRestartPolicy { Condition = "none" },
                    Networks = string.IsNullOrEmpty(settings.AgentNetwork) ? null : [new NetworkAttachmentConfig { Target = settings.AgentNetwork }],
                },
            },
        }, cancellationToken);
        var jobId = created.ID ?? throw new BackupSourceException($"the engine created agent job {name} without an id");
        LogAgentStarted(logger, name, request.Verb, request.Service, node, request.SetId);
        try
        {
            var (state, error) = await WaitAsync(jobId, cancellationToken);
            if (state != TaskState.Complete)
            {
                var tail = await LogsAsync(jobId, cancellationToken);
                throw new BackupSourceException(
                    $"the {request.Verb} agent of {request.Service} on node {node} ended {state.ToString().ToLowerInvariant()}{(string.IsNullOrEmpty(error) ? "" : $" ({error})")}: {tail}");
            }
        }
        finally
        {
            await DockerCalls.OrNothingAsync(() => _docker.Swarm.RemoveServiceAsync(jobId, CancellationToken.None));
        }
    }

    /// <summary>The state its task ended in (complete, failed, rejected…), or a failure at Swarm:AgentTimeout.</summary>
    private async Task<(TaskState State, string? Error)> WaitAsync(string jobId, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + options.Value.AgentTimeout;
        while (time.GetUtcNow() < deadline)
        {
            var tasks = await _docker.Tasks.ListAsync(new TasksListParameters
            {
                Filters = new Dictionary<string, IDictionary<string, bool>> { ["service"] = new Dictionary<string, bool> { [jobId] = true } },
            }, cancellationToken);
            if (tasks.Select(task => task.Status).FirstOrDefault(status => status?.State is TaskState.Complete or TaskState.Failed or TaskState.Rejected or TaskState.Shutdown or TaskState.Orphaned) is { State: { } state } ended)
            {
                return (state, ended.Err);
            }

            await Task.Delay(options.Value.PollInterval, time, cancellationToken);
        }

        throw new BackupSourceException($"the agent job did not end within Swarm:AgentTimeout ({options.Value.AgentTimeout})");
    }

    private async Task<string> LogsAsync(string jobId, CancellationToken cancellationToken)
    {
        try
        {
            using var stream = await _docker.Swarm.GetServiceLogsAsync(jobId, false, new ServiceLogsParameters { ShowStdout = true, ShowStderr = true, Tail = "20" }, cancellationToken);
            var (stdout, stderr) = await stream.ReadOutputToEndAsync(cancellationToken);
            var text = (stdout + stderr).Trim();
            return text.Length == 0 ? "it wrote nothing" : text[Math.Max(0, text.Length - 2000)..];
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return $"its output could not be read ({e.Message})";
        }
    }

    /// <summary>The node of the service's one running task.</summary>
    private async Task<string> NodeOfAsync(ServiceInfo service, CancellationToken cancellationToken)
    {
        var tasks = await _docker.Tasks.ListAsync(new TasksListParameters
        {
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["service"] = new Dictionary<string, bool> { [service.Id] = true } },
        }, cancellationToken);
        var running = tasks.Where(task => task.Status?.State == TaskState.Running && !string.IsNullOrEmpty(task.NodeID)).Select(task => task.NodeID).Distinct().ToList();
        return running.Count switch
        {
            1 => running[0]!,
            0 => throw new BackupSourceException($"service {service.Name} has no running task: its data is backed up where its task runs"),
            _ => throw new BackupSourceException($"service {service.Name} runs on {running.Count} nodes: only a service of one task (a database, gitea) is backed up"),
        };
    }

    private async Task<string> AgentImageAsync(CancellationToken cancellationToken)
    {
        if (options.Value.AgentImage is { Length: > 0 } configured)
        {
            return configured;
        }

        // In a container, HOSTNAME is the container's id: the agent is the same image as this service.
        var self = Environment.GetEnvironmentVariable("HOSTNAME");
        var inspect = string.IsNullOrEmpty(self) ? null : await DockerCalls.OrNothingAsync(() => _docker.Containers.InspectContainerAsync(self, cancellationToken));
        return inspect?.Config?.Image is { Length: > 0 } image
            ? image
            : throw new BackupSourceException("the image of the backup agent is unknown (this service does not run in a container): set Swarm:AgentImage to webhook-updater's image");
    }

    private sealed record AgentSecret(string Id, string Name, string File);

    /// <summary>
    /// The signing key and the S3 credentials file as Docker secrets, named by a hash of their
    /// content: a changed key or file is a new secret, and one that exists is reused.
    /// </summary>
    private async Task<IReadOnlyList<AgentSecret>> SecretsAsync(CancellationToken cancellationToken)
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

        var existing = await _docker.Secrets.ListAsync(cancellationToken);
        var secrets = new List<AgentSecret>();
        foreach (var (file, content) in new[] { (KeySecret, backups.SigningKeyBytes), (CredentialsSecret, await File.ReadAllBytesAsync(location, cancellationToken)) })
        {
            var name = $"{file}-{Convert.ToHexStringLower(SHA256.HashData(content))[..12]}";
            var id = existing.FirstOrDefault(secret => secret.Spec?.Name == name)?.ID
                ?? (await _docker.Secrets.CreateAsync(new SwarmSecretSpec
                {
                    Name = name,
                    Labels = new Dictionary<string, string> { [AgentLabel] = file },
                    Data = content,
                }, cancellationToken)).ID;
            secrets.Add(new AgentSecret(id, name, file));
        }

        return secrets;
    }

    /// <summary>The store's settings, none of them secret; the key and the credentials are files of Docker secrets.</summary>
    private List<string> AgentEnvironment(IReadOnlyList<AgentSecret> secrets)
    {
        var o = backupOptions.Value;
        var variables = new List<string>
        {
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
        };
        variables.Add($"Backups__SigningKey_FILE={SecretsFolder}{secrets.Single(s => s.File == KeySecret).File}");
        variables.Add($"Backups__ProfilesLocation={SecretsFolder}{secrets.Single(s => s.File == CredentialsSecret).File}");
        return variables;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Agent job {Job}: {Verb} of service {Service} on node {Node}, set {SetId}")]
    private static partial void LogAgentStarted(ILogger logger, string job, string verb, string service, string node, string setId);
}
