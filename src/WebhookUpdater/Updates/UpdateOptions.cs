namespace WebhookUpdater.Updates;

public sealed class UpdateOptions
{
    public const string Section = "Updates";

    /// <summary>Runs the update worker (off only in tests that look at queued jobs).</summary>
    public bool RunWorker { get; set; } = true;

    /// <summary>Lines of the failed container's log kept with the job and put in the email.</summary>
    public int LogTailLines { get; set; } = 50;

    /// <summary>
    /// Fault injection for the crash tests: after the recreate reaches this phase (stopped,
    /// created), the worker stops and waits to be killed. Never set in production.
    /// </summary>
    public string? HangAfterPhase { get; set; }
}

/// <summary>How far a recreate got, written to the journal around each Docker call that changes something.</summary>
public static class Phases
{
    public const string BackedUp = "backed_up";
    public const string Pulled = "pulled";
    public const string Renaming = "renaming";
    public const string Renamed = "renamed";
    public const string Stopped = "stopped";
    public const string Created = "created";
    public const string Started = "started";
    public const string GatePassed = "gate_passed";
    public const string RollingBack = "rolling_back";
    public const string Done = "done";
}

public static class Outcomes
{
    public const string Updated = "updated";
    public const string RolledBackHealthy = "rolled back, healthy";
    public const string RolledBackFailing = "rolled back, still failing: action required";
    public const string NothingChanged = "nothing changed";
}
