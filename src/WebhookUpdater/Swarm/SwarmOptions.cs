namespace WebhookUpdater.Swarm;

public sealed class SwarmOptions
{
    public const string Section = "Swarm";

    /// <summary>How often a service job reads the service's UpdateStatus.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long Swarm may take to roll an update out (or back) before the job ends for the operator to look at.</summary>
    public TimeSpan UpdateTimeout { get; set; } = TimeSpan.FromMinutes(30);
}
