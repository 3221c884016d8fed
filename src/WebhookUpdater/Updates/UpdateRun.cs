using WebhookUpdater.Containers;
using WebhookUpdater.Health;

namespace WebhookUpdater.Updates;

/// <summary>
/// What one run of a job knows: the journal's values when it starts (a resumed job), then what
/// each step learns. The pipeline reads these, never the store it writes to.
/// </summary>
public sealed class UpdateRun(JobView job)
{
    public JobView Job { get; } = job;

    public string Container => Job.Container;

    /// <summary>The container the job updates (it becomes name.old while the new one is tried).</summary>
    public string? ContainerId { get; set; } = job.ContainerId;

    /// <summary>What the container ran when the job started: its configured image (repo:oldtag) and image id.</summary>
    public string? CurrentImage { get; set; } = job.CurrentImage;

    public string? CurrentImageId { get; set; } = job.CurrentImageId;

    /// <summary>The pre-update set: taken once, never replaced.</summary>
    public string? BackupId { get; set; } = job.BackupId;

    public string? NewImageId { get; set; } = job.NewImageId;

    public string? NewContainerId { get; set; } = job.NewContainerId;

    /// <summary>Why the job rolls back (journaled when the rollback starts).</summary>
    public string? RollbackReason { get; set; } = job.Phase?.IsRollback() == true || job.Phase == UpdatePhase.Finishing ? job.Reason : null;

    /// <summary>The end of the failed container's log, for the job and the email.</summary>
    public string? LogTail { get; set; } = job.LogTail;

    /// <summary>An outcome already decided (a restore that failed during the rollback).</summary>
    public JobOutcome? Outcome { get; set; } = UpdateVocabulary.ParseOutcome(job.Outcome);

    public GateResult? Verdict { get; set; }

    /// <summary>What a tag move left in the compose project.</summary>
    public ComposeDrift? ComposeDrift { get; set; } = job.ComposeDrift;

    /// <summary>The dependent whose failure rolls the job back: it is restarted once more after the rollback.</summary>
    public string? FailedDependent { get; set; } = job.FailedDependent;
}

/// <summary>What a step learned, or why it failed: an expected failure is a value, not an exception.</summary>
public sealed record StepResult<T>(T? Value, string Detail, bool Succeeded);

public static class StepResult
{
    public static StepResult<T> Ok<T>(T value, string detail) => new(value, detail, true);

    public static StepResult<T> Fail<T>(string error) => new(default, error, false);
}
