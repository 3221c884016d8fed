using System.Collections.Frozen;
using System.Text.Json.Serialization;
using System.Text.Json;
using WebhookUpdater.Containers;

namespace WebhookUpdater.Updates;

/// <summary>The value of a container's <c>update.policy</c> label, as the service understood it.</summary>
public static class Policies
{
    public const string Label = "update.policy";
    public const string Automatic = "automatic";
    public const string Manual = "manual";

    /// <summary>Never updated: each new image is listed in one "update available" email a day.</summary>
    public const string Notify = "notify";
    public const string None = "none";
}

/// <summary>What the service decided for one container on one event; stored and answered by its snake_case name.</summary>
[JsonConverter(typeof(DecisionJsonConverter))]
public enum Decision
{
    Queued,
    AwaitingApproval,
    IgnoredNoPolicy,
    IgnoredUnknownPolicy,
    IgnoredTagMismatch,
    IgnoredAlreadyCurrent,
    Duplicate,

    /// <summary>A newer version exists, outside the container's update.track: mentioned in the weekly digest, never applied.</summary>
    IgnoredOutsideTrack,

    /// <summary>A notify-only container: listed in the daily "update available" email; the job is recorded as ignored.</summary>
    Notified,

    /// <summary>A database container's new major version: an image swap cannot upgrade its data.</summary>
    RefusedDatabaseMajor,
}

/// <summary>A decision's name as the journal, the API and the metrics spell it (<c>ignored_no_policy</c>).</summary>
public static class Decisions
{
    private static readonly Dictionary<Decision, string> Names =
        Enum.GetValues<Decision>().ToDictionary(decision => decision, decision => JsonNamingPolicy.SnakeCaseLower.ConvertName(decision.ToString()));

    private static readonly Dictionary<string, Decision> ByName = Names.ToDictionary(pair => pair.Value, pair => pair.Key, StringComparer.Ordinal);

    public static string Name(this Decision decision) => Names[decision];

    public static Decision Parse(string name) =>
        ByName.TryGetValue(name, out var decision) ? decision : throw new FormatException($"'{name}' is not a decision of this version.");
}

internal sealed class DecisionJsonConverter() : JsonStringEnumConverter<Decision>(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false);

/// <summary>Where a job is in its life; stored and answered by its snake_case name.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<JobState>))]
public enum JobState
{
    [JsonStringEnumMemberName("queued")] Queued,
    [JsonStringEnumMemberName("awaiting_approval")] AwaitingApproval,
    [JsonStringEnumMemberName("running")] Running,
    [JsonStringEnumMemberName("succeeded")] Succeeded,
    [JsonStringEnumMemberName("failed")] Failed,
    [JsonStringEnumMemberName("rolled_back")] RolledBack,
    [JsonStringEnumMemberName("rejected")] Rejected,
    [JsonStringEnumMemberName("superseded")] Superseded,
    [JsonStringEnumMemberName("ignored")] Ignored,
    [JsonStringEnumMemberName("cancelled")] Cancelled,
}

/// <summary>A job state's name as the journal, the API and the pages spell it, and the groups of states the service acts on.</summary>
public static class JobStates
{
    private static readonly FrozenDictionary<JobState, string> Names = WireNames<JobState>.ByValue;

    private static readonly FrozenDictionary<string, JobState> ByName = WireNames<JobState>.ByName;

    /// <summary>States a job never leaves.</summary>
    public static readonly FrozenSet<JobState> Final =
        [JobState.Succeeded, JobState.Failed, JobState.RolledBack, JobState.Rejected, JobState.Superseded, JobState.Ignored, JobState.Cancelled];

    /// <summary>States in which a job still waits for its turn: a newer digest supersedes it.</summary>
    public static readonly FrozenSet<JobState> Pending = [JobState.Queued, JobState.AwaitingApproval];

    /// <summary>States in which the same container and digest must not get a second job.</summary>
    public static readonly FrozenSet<JobState> Active = [JobState.Queued, JobState.AwaitingApproval, JobState.Running];

    /// <summary>Every name, in the enum's order, for messages that list what is accepted.</summary>
    public static IReadOnlyList<string> AllNames { get; } = Enum.GetValues<JobState>().Select(state => Names[state]).ToList();

    public static string Name(this JobState state) => Names[state];

    public static bool IsFinal(this JobState state) => Final.Contains(state);

    public static bool TryParse(string? name, out JobState state) => ByName.TryGetValue(name ?? "", out state);

    public static JobState Parse(string name) =>
        ByName.TryGetValue(name, out var state) ? state : throw new FormatException($"'{name}' is not a job state of this version.");

    /// <summary>The states as a quoted SQL list: the words are this enum's, never input, so they are safe to inline.</summary>
    public static string SqlList(IEnumerable<JobState> states) => string.Join(", ", states.Select(state => $"'{state.Name()}'"));
}

/// <summary>The decision for one container, before it is written down.</summary>
public sealed record UpdateDecision(
    string ContainerName,
    string? ContainerId,
    string Policy,
    Decision Decision,
    JobState State,
    string? CurrentImage,
    string? CurrentImageId,
    string Reason)
{
    /// <summary>A container (recreated by the pipeline) or a Swarm service (updated by Swarm).</summary>
    public UpdateTarget Target { get; init; }
}

/// <summary>What a job updates; stored and answered by its lower-case name.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<UpdateTarget>))]
public enum UpdateTarget
{
    [JsonStringEnumMemberName("container")] Container,

    /// <summary>A Swarm service: Swarm rolls the new image out and back with the service's own settings.</summary>
    [JsonStringEnumMemberName("service")] Service,
}

/// <summary>The answer for one container, as the webhook returns it.</summary>
public sealed record JobRef(string Id, string Container, string Policy, Decision Decision);

/// <summary>An event as the journal keeps it.</summary>
public sealed record EventRecord(DateTimeOffset ReceivedAt, UpdateEvent Event)
{
    /// <summary>The webhook request's trace, so each job's trace can link to it.</summary>
    public string? TraceParent { get; init; }

    /// <summary>The dependent that failed its gate after a restart, so the update was rolled back.</summary>
    public string? FailedDependent { get; init; }

    /// <summary>For the rollback of a finished update: the job it undoes.</summary>
    public string? RollbackOf { get; init; }

    /// <summary>For the rollback of a finished update with its data: the pre-update set put back.</summary>
    public string? RestoreSetId { get; init; }
}

/// <summary>Where one step of a job stands; stored and answered by its lower-case name.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<StepState>))]
public enum StepState
{
    [JsonStringEnumMemberName("running")] Running,
    [JsonStringEnumMemberName("succeeded")] Succeeded,
    [JsonStringEnumMemberName("failed")] Failed,

    /// <summary>The service stopped while the step ran; the job goes on from its journaled phase.</summary>
    [JsonStringEnumMemberName("interrupted")] Interrupted,
}

public static class StepStates
{
    private static readonly FrozenDictionary<StepState, string> Names = WireNames<StepState>.ByValue;

    private static readonly FrozenDictionary<string, StepState> ByName = WireNames<StepState>.ByName;

    public static string Name(this StepState state) => Names[state];

    public static StepState Parse(string name) =>
        ByName.TryGetValue(name, out var state) ? state : throw new FormatException($"'{name}' is not a step state of this version.");
}

public sealed record JobStep(int Seq, string Name, StepState State, DateTimeOffset StartedAt, DateTimeOffset? EndedAt, string? Detail);

public sealed record JobView(
    string Id,
    long? EventId,
    string Container,
    string? ContainerId,
    string Policy,
    Decision Decision,
    JobState State,
    string Image,
    string Digest,
    string? CurrentImage,
    string? HubLink,
    string? Reason,
    string? SupersededBy,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    IReadOnlyList<JobStep> Steps)
{
    public int Attempts { get; init; }

    /// <summary>Where the job stands: the phase it goes on from after a restart.</summary>
    public UpdatePhase? Phase { get; init; }

    public string? CurrentImageId { get; init; }

    public string? NewImageId { get; init; }

    public string? NewContainerId { get; init; }

    public string? BackupId { get; init; }

    public string? Outcome { get; init; }

    public string? LogTail { get; init; }

    public DateTimeOffset? FinishedAt { get; init; }

    public string? TraceParent { get; init; }

    /// <summary>After a tag move: the compose project's line that still names the old tag, and whether it was rewritten.</summary>
    public ComposeDrift? ComposeDrift { get; init; }

    public UpdateTarget Target { get; init; }

    /// <summary>A service job: the service's Version.Index when its update was about to be sent.</summary>
    public long? ServiceVersion { get; init; }

    /// <summary>The dependent that failed its gate after a restart, so the update was rolled back.</summary>
    public string? FailedDependent { get; init; }

    /// <summary>For the rollback of a finished update: the job it undoes.</summary>
    public string? RollbackOf { get; init; }

    /// <summary>For the rollback of a finished update with its data: the pre-update set put back.</summary>
    public string? RestoreSetId { get; init; }
}
