using System.Collections.Frozen;
using System.Text.Json.Serialization;

namespace WebhookUpdater.Updates;

/// <summary>
/// Where an update stands, journaled before the pipeline acts on it: at start-up a job goes on
/// from here. The names are the journal's and the jobs API's words.
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<UpdatePhase>))]
public enum UpdatePhase
{
    [JsonStringEnumMemberName("backing_up")] BackingUp,
    [JsonStringEnumMemberName("backed_up")] BackedUp,
    [JsonStringEnumMemberName("pulling")] Pulling,
    [JsonStringEnumMemberName("pulled")] Pulled,

    /// <summary>The new container is being created under its temporary name, the old one still runs.</summary>
    [JsonStringEnumMemberName("creating")] Creating,
    [JsonStringEnumMemberName("created")] Created,

    /// <summary>The old container, still running, becomes name.old; the new one, not started yet, takes the name.</summary>
    [JsonStringEnumMemberName("renaming")] Renaming,
    [JsonStringEnumMemberName("stopping")] Stopping,
    [JsonStringEnumMemberName("starting")] Starting,
    [JsonStringEnumMemberName("gating")] Gating,
    [JsonStringEnumMemberName("gate_passed")] GatePassed,

    /// <summary>The rollback's reason is journaled; from here the job is never an update again.</summary>
    [JsonStringEnumMemberName("rolling_back")] RollingBack,
    [JsonStringEnumMemberName("removing_new")] RemovingNew,
    [JsonStringEnumMemberName("renaming_back")] RenamingBack,
    [JsonStringEnumMemberName("restoring_data")] RestoringData,
    [JsonStringEnumMemberName("starting_old")] StartingOld,
    [JsonStringEnumMemberName("rollback_gating")] RollbackGating,

    /// <summary>The outcome is journaled; the email (at most one per kind and job) and the final state follow.</summary>
    [JsonStringEnumMemberName("finishing")] Finishing,
    [JsonStringEnumMemberName("done")] Done,

    /// <summary>A service job: the service's version is journaled, the new image is being sent to Swarm.</summary>
    [JsonStringEnumMemberName("service_updating")] ServiceUpdating,

    /// <summary>Swarm took the new image; the job follows the service's UpdateStatus to its end.</summary>
    [JsonStringEnumMemberName("service_following")] ServiceFollowing,

    /// <summary>The updated container passed its gate; the containers that require it run theirs (each restarted once if it fails).</summary>
    [JsonStringEnumMemberName("checking_dependents")] CheckingDependents,

    /// <summary>The rollback of a finished update puts the undone job's pre-update set back, after the gate.</summary>
    [JsonStringEnumMemberName("restoring_set")] RestoringSet,
}

/// <summary>How a job ended, in the words of the jobs API and the emails.</summary>
public enum JobOutcome
{
    Updated,
    RolledBackHealthy,
    RolledBackFailing,
    NothingChanged,
    RollbackFailed,
    ContainerMissing,

    /// <summary>The pipeline itself failed unexpectedly.</summary>
    Error,

    /// <summary>Swarm paused the service's update (its failure_action was pause): neither version is sure to run.</summary>
    ServicePaused,

    /// <summary>The rollback of a finished update changed the image, but its data could not be put back.</summary>
    DataNotRestored,
}

public static class UpdateVocabulary
{
    private static readonly FrozenDictionary<UpdatePhase, string> PhaseNames = WireNames<UpdatePhase>.ByValue;

    private static readonly FrozenDictionary<string, UpdatePhase> PhasesByName = WireNames<UpdatePhase>.ByName;

    private static readonly FrozenDictionary<JobOutcome, string> OutcomeNames = new Dictionary<JobOutcome, string>
    {
        [JobOutcome.Updated] = "updated",
        [JobOutcome.RolledBackHealthy] = "rolled back, healthy",
        [JobOutcome.RolledBackFailing] = "rolled back, still failing: action required",
        [JobOutcome.NothingChanged] = "nothing changed",
        [JobOutcome.RollbackFailed] = "rollback failed: action required",
        [JobOutcome.ContainerMissing] = "container missing: action required",
        [JobOutcome.Error] = "error: action required",
        [JobOutcome.ServicePaused] = "paused by Swarm: action required",
        [JobOutcome.DataNotRestored] = "previous image running, data not restored: action required",
    }.ToFrozenDictionary();

    private static readonly FrozenDictionary<string, JobOutcome> OutcomesByName = OutcomeNames.ToFrozenDictionary(entry => entry.Value, entry => entry.Key, StringComparer.Ordinal);

    public static string ToText(this UpdatePhase phase) => PhaseNames[phase];

    public static UpdatePhase? ParsePhase(string? text) =>
        text is null ? null : PhasesByName.TryGetValue(text, out var phase) ? phase : null;

    public static string ToText(this JobOutcome outcome) => OutcomeNames[outcome];

    public static JobOutcome? ParseOutcome(string? text) =>
        text is null ? null : OutcomesByName.TryGetValue(text, out var outcome) ? outcome : null;

    /// <summary>The job state an outcome ends in.</summary>
    public static JobState FinalState(this JobOutcome outcome) => outcome switch
    {
        JobOutcome.Updated => JobState.Succeeded,
        JobOutcome.RolledBackHealthy => JobState.RolledBack,
        _ => JobState.Failed,
    };

    /// <summary>True from the first step of a rollback on: such a job is finished as a rollback.</summary>
    public static bool IsRollback(this UpdatePhase phase) => phase is >= UpdatePhase.RollingBack and <= UpdatePhase.RollbackGating;
}
