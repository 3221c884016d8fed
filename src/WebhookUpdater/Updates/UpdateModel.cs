using System.Text.Json;
using System.Text.Json.Serialization;

namespace WebhookUpdater.Updates;

/// <summary>The value of a container's <c>update.policy</c> label, as the service understood it.</summary>
public static class Policies
{
    public const string Label = "update.policy";
    public const string Automatic = "automatic";
    public const string Manual = "manual";
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

/// <summary>Where a job is in its life.</summary>
public static class JobStates
{
    public const string Queued = "queued";
    public const string AwaitingApproval = "awaiting_approval";
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string RolledBack = "rolled_back";
    public const string Rejected = "rejected";
    public const string Superseded = "superseded";
    public const string Ignored = "ignored";
    public const string Cancelled = "cancelled";

    /// <summary>States a job never leaves.</summary>
    public static readonly string[] Final = [Succeeded, Failed, RolledBack, Rejected, Superseded, Ignored, Cancelled];

    /// <summary>States in which a job still waits for its turn: a newer digest supersedes it.</summary>
    public static readonly string[] Pending = [Queued, AwaitingApproval];

    /// <summary>States in which the same container and digest must not get a second job.</summary>
    public static readonly string[] Active = [Queued, AwaitingApproval, Running];
}

/// <summary>The decision for one container, before it is written down.</summary>
public sealed record UpdateDecision(
    string ContainerName,
    string? ContainerId,
    string Policy,
    Decision Decision,
    string State,
    string? CurrentImage,
    string? CurrentImageId,
    string Reason);

/// <summary>The answer for one container, as the webhook returns it.</summary>
public sealed record JobRef(string Id, string Container, string Policy, Decision Decision);

/// <summary>An event as the journal keeps it.</summary>
public sealed record EventRecord(
    DateTimeOffset ReceivedAt,
    string Status,
    string Provider,
    string Image,
    string Digest,
    string? Hostname,
    string? HubLink,
    string Payload)
{
    /// <summary>The webhook request's trace, so each job's trace can link to it.</summary>
    public string? TraceParent { get; init; }
}

public sealed record JobStep(int Seq, string Name, string State, DateTimeOffset StartedAt, DateTimeOffset? EndedAt, string? Detail);

public sealed record JobView(
    string Id,
    long? EventId,
    string Container,
    string? ContainerId,
    string Policy,
    Decision Decision,
    string State,
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
}
