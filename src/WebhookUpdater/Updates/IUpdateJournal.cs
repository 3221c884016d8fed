using WebhookUpdater.Containers;

namespace WebhookUpdater.Updates;

/// <summary>What a phase records besides itself: each value is written once and never replaced.</summary>
public sealed record PhaseFacts
{
    public static readonly PhaseFacts None = new();

    public string? ContainerId { get; init; }

    /// <summary>What the container ran when the job started (replaces the decision's: the container may have moved since).</summary>
    public string? CurrentImage { get; init; }

    public string? CurrentImageId { get; init; }

    public string? BackupId { get; init; }

    public string? NewImageId { get; init; }

    public string? NewContainerId { get; init; }

    /// <summary>Why the job rolls back, or how it ended (replaces the decision's reason).</summary>
    public string? Reason { get; init; }

    public string? LogTail { get; init; }

    public JobOutcome? Outcome { get; init; }

    public ComposeDrift? ComposeDrift { get; init; }

    /// <summary>A service job: the service's Version.Index before the update is sent.</summary>
    public long? ServiceVersion { get; init; }

    public string? FailedDependent { get; init; }
}

/// <summary>
/// The pipeline's journal of one job: its phase, its steps, its end. The store implements it;
/// the crash tests decorate it to stop the service right after a phase is written.
/// </summary>
public interface IUpdateJournal
{
    /// <summary>Writes the phase (and what it learned) before the pipeline acts on it.</summary>
    Task EnterPhaseAsync(string jobId, UpdatePhase phase, PhaseFacts facts, CancellationToken cancellationToken);

    Task<int> StartStepAsync(string jobId, string name, CancellationToken cancellationToken);

    Task EndStepAsync(string jobId, int seq, StepState state, string? detail, CancellationToken cancellationToken);

    /// <summary>Closes the steps a crash left open.</summary>
    Task CloseOpenStepsAsync(string jobId, string detail, CancellationToken cancellationToken);

    /// <summary>Moves a job from <paramref name="from"/> to <paramref name="to"/>; false when it was in another state.</summary>
    Task<bool> TransitionAsync(string id, JobState from, JobState to, string? reason, CancellationToken cancellationToken);

    Task FinishAsync(string id, JobState state, string outcome, string reason, string? logTail, CancellationToken cancellationToken);
}
