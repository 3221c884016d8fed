using System.Security.Cryptography;
using Docker.DotNet;
using Docker.DotNet.Models;
using WebhookUpdater.Containers;

namespace WebhookUpdater.Swarm;

/// <summary>A Docker secret a job mounts, as a file under /run/secrets (mode 0400, root's).</summary>
public sealed record SwarmJobSecret(string Id, string Name, string File);

/// <summary>
/// A one-off Swarm job: one task (replicated-job, MaxConcurrent 1, TotalCompletions 1, never
/// restarted) on <paramref name="Node"/>, with the node's Docker socket mounted and /data a tmpfs.
/// </summary>
/// <param name="Socket">The Docker socket's path on the node, mounted at /var/run/docker.sock.</param>
/// <param name="Network">A network to attach (e.g. host), or null for the engine's default.</param>
public sealed record SwarmJob(
    string Name,
    string Image,
    IList<string> Args,
    IList<string> Environment,
    IDictionary<string, string> Labels,
    string Node,
    string Socket,
    IReadOnlyList<SwarmJobSecret> Secrets,
    string? Network);

/// <summary>How a job ended: Swarm's task state (complete, failed, rejected…), its error, and the job's last output lines when it did not complete.</summary>
public sealed record SwarmJobEnd(string State, string? Error, string? Output)
{
    public bool Completed => State == "complete";
}

/// <summary>Swarm jobs and secrets: the part of the Swarm API the agents of service backups need.</summary>
public interface ISwarmJobs
{
    /// <summary>The nodes of the service's running tasks.</summary>
    Task<IReadOnlyList<string>> NodesOfAsync(string serviceId, CancellationToken cancellationToken);

    /// <summary>The secret named <c>{name}-{hash of content}</c>, made when it does not exist yet; a changed content is a new secret, and the old one is removed.</summary>
    Task<SwarmJobSecret> SecretAsync(string name, byte[] content, string label, CancellationToken cancellationToken);

    /// <summary>Creates the job, waits until its task ends (null at <paramref name="timeout"/>), and removes it whatever happened.</summary>
    Task<SwarmJobEnd?> RunAsync(SwarmJob job, TimeSpan timeout, TimeSpan poll, CancellationToken cancellationToken);

    /// <summary>The image of the container this process runs in, or null when it runs in none.</summary>
    Task<string?> OwnImageAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Removes the jobs labelled <paramref name="label"/>=<paramref name="value"/> left by a process
    /// that stopped while they ran: one still running is waited for (up to <paramref name="timeout"/>)
    /// first, so two jobs never work on the same data. Returns how many were removed.
    /// </summary>
    Task<int> ClearLeftoversAsync(string label, string value, TimeSpan timeout, TimeSpan poll, CancellationToken cancellationToken);
}

internal sealed class DockerSwarmJobs(DockerApi engine, TimeProvider time) : ISwarmJobs
{
    private readonly DockerClient _docker = engine.Client;

    public async Task<IReadOnlyList<string>> NodesOfAsync(string serviceId, CancellationToken cancellationToken)
    {
        var tasks = await _docker.Tasks.ListAsync(new TasksListParameters
        {
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["service"] = new Dictionary<string, bool> { [serviceId] = true } },
        }, cancellationToken);
        return tasks.Where(task => task.Status?.State == TaskState.Running && !string.IsNullOrEmpty(task.NodeID)).Select(task => task.NodeID!).Distinct().ToList();
    }

    public async Task<SwarmJobSecret> SecretAsync(string name, byte[] content, string label, CancellationToken cancellationToken)
    {
        var named = $"{name}-{Convert.ToHexStringLower(SHA256.HashData(content))[..12]}";
        var existing = await _docker.Secrets.ListAsync(cancellationToken);
        foreach (var stale in existing.Where(secret => secret.Spec?.Labels is { } labels && labels.TryGetValue(label, out var kind) && kind == name && secret.Spec.Name != named && secret.ID is not null))
        {
            try
            {
                // A key or file that changed: its old secret goes, unless a job still mounts it.
                await _docker.Secrets.DeleteAsync(stale.ID!, cancellationToken);
            }
            catch (DockerApiException)
            {
            }
        }

        var id = existing.FirstOrDefault(secret => secret.Spec?.Name == named)?.ID
            ?? (await _docker.Secrets.CreateAsync(new SwarmSecretSpec
            {
                Name = named,
                Labels = new Dictionary<string, string> { [label] = name },
                Data = content,
            }, cancellationToken)).ID
            ?? throw new InvalidOperationException($"the engine made secret {named} without an id");
        return new SwarmJobSecret(id, named, name);
    }

    public async Task<SwarmJobEnd?> RunAsync(SwarmJob job, TimeSpan timeout, TimeSpan poll, CancellationToken cancellationToken)
    {
        var created = await _docker.Swarm.CreateServiceAsync(new ServiceCreateParameters
        {
            Service = new ServiceSpec
            {
                Name = job.Name,
                Labels = job.Labels,
                Mode = new ServiceMode { ReplicatedJob = new ReplicatedJob { MaxConcurrent = 1, TotalCompletions = 1 } },
                TaskTemplate = new TaskSpec
                {
                    ContainerSpec = new ContainerSpec
                    {
                        Image = job.Image,
                        Args = job.Args,
                        Env = job.Environment,
                        // The node's socket belongs to a group the manager cannot know; the socket is root on that node anyway.
                        User = "0:0",
                        // The image's HEALTHCHECK probes the web app, which an agent does not run: Swarm would kill a long backup as unhealthy.
                        Healthcheck = new HealthcheckConfig { Test = ["NONE"] },
                        Mounts = [new Mount { Type = "bind", Source = job.Socket, Target = "/var/run/docker.sock" }, new Mount { Type = "tmpfs", Target = "/data" }],
                        Secrets = job.Secrets.Select(secret => new SecretReference
                        {
                            SecretID = secret.Id,
                            SecretName = secret.Name,
                            File = new SecretReferenceFileTarget { Name = secret.File, UID = "0", GID = "0", Mode = Convert.ToUInt32("400", 8) },
                        }).ToList(),
                    },
                    Placement = new Placement { Constraints = [$"node.id=={job.Node}"] },
                    RestartPolicy = new SwarmRestartPolicy { Condition = "none" },
                    Networks = string.IsNullOrEmpty(job.Network) ? null : [new NetworkAttachmentConfig { Target = job.Network }],
                },
            },
        }, cancellationToken);
        var id = created.ID ?? throw new InvalidOperationException($"the engine created job {job.Name} without an id");
        try
        {
            return await WaitForEndAsync(id, timeout, poll, cancellationToken);
        }
        finally
        {
            await DockerCalls.OrNothingAsync(() => _docker.Swarm.RemoveServiceAsync(id, CancellationToken.None));
        }
    }

    public async Task<int> ClearLeftoversAsync(string label, string value, TimeSpan timeout, TimeSpan poll, CancellationToken cancellationToken)
    {
        var leftovers = await _docker.Swarm.ListServicesAsync(new ServiceListParameters
        {
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{label}={value}"] = true } },
        }, cancellationToken);
        foreach (var leftover in leftovers.Where(service => service.ID is not null))
        {
            // Its end (or the timeout) is all that is waited for: what it did is read from the store, not from it.
            await WaitForEndAsync(leftover.ID!, timeout, poll, cancellationToken);
            await DockerCalls.OrNothingAsync(() => _docker.Swarm.RemoveServiceAsync(leftover.ID!, CancellationToken.None));
        }

        return leftovers.Count;
    }

    /// <summary>How the job's task ended, or null when it had not ended at <paramref name="timeout"/>.</summary>
    private async Task<SwarmJobEnd?> WaitForEndAsync(string id, TimeSpan timeout, TimeSpan poll, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + timeout;
        while (time.GetUtcNow() < deadline)
        {
            var tasks = await _docker.Tasks.ListAsync(new TasksListParameters
            {
                Filters = new Dictionary<string, IDictionary<string, bool>> { ["service"] = new Dictionary<string, bool> { [id] = true } },
            }, cancellationToken);
            if (tasks.Select(task => task.Status).FirstOrDefault(status => status?.State is TaskState.Complete or TaskState.Failed or TaskState.Rejected or TaskState.Shutdown or TaskState.Orphaned) is { State: { } state } ended)
            {
                return state == TaskState.Complete
                    ? new SwarmJobEnd("complete", null, null)
                    : new SwarmJobEnd(state.ToString().ToLowerInvariant(), ended.Err, await OutputAsync(id, cancellationToken));
            }

            await Task.Delay(poll, time, cancellationToken);
        }

        return null;
    }

    public async Task<string?> OwnImageAsync(CancellationToken cancellationToken)
    {
        // In a container, HOSTNAME is the container's id.
        var self = System.Environment.GetEnvironmentVariable("HOSTNAME");
        var inspect = string.IsNullOrEmpty(self) ? null : await DockerCalls.OrNothingAsync(() => _docker.Containers.InspectContainerAsync(self, cancellationToken));
        return inspect?.Config?.Image is { Length: > 0 } image ? image : null;
    }

    private async Task<string> OutputAsync(string id, CancellationToken cancellationToken)
    {
        try
        {
            using var stream = await _docker.Swarm.GetServiceLogsAsync(id, false, new ServiceLogsParameters { ShowStdout = true, ShowStderr = true, Tail = "20" }, cancellationToken);
            var (stdout, stderr) = await stream.ReadOutputToEndAsync(cancellationToken);
            var text = (stdout + stderr).Trim();
            return text.Length == 0 ? "it wrote nothing" : text[Math.Max(0, text.Length - 2000)..];
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return $"its output could not be read ({e.Message})";
        }
    }
}
