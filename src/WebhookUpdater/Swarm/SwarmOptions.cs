namespace WebhookUpdater.Swarm;

public sealed class SwarmOptions
{
    public const string Section = "Swarm";

    /// <summary>How often a service job reads the service's UpdateStatus.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long Swarm may take to roll an update out (or back) before the job ends for the operator to look at.</summary>
    public TimeSpan UpdateTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>The image of the backup agent: empty is the image this service's own container runs.</summary>
    public string? AgentImage { get; set; }

    /// <summary>How long one agent job (a service's backup or restore on its node) may take, from its creation to its end.</summary>
    public TimeSpan AgentTimeout { get; set; } = TimeSpan.FromHours(1);

    /// <summary>The Docker socket on every node, mounted into the agent.</summary>
    public string AgentDockerSocket { get; set; } = "/var/run/docker.sock";

    /// <summary>A network for the agent to reach the S3 store through (e.g. host); empty is the engine's default.</summary>
    public string? AgentNetwork { get; set; }
}
