using System.Globalization;
using Microsoft.AspNetCore.Antiforgery;
using WebhookUpdater.Updates;

namespace WebhookUpdater.Status.Pages;

/// <summary>The login form; <paramref name="BasePath"/> keeps its action under the public path.</summary>
public sealed record LoginModel(string BasePath, string? Error, bool CanLogIn, AntiforgeryTokenSet Tokens);

public sealed record DashboardModel(string BasePath, StatusModel Status, string? Notice, AntiforgeryTokenSet Tokens);

/// <summary>A pending job with its buttons; every form carries the antiforgery token.</summary>
public sealed record PendingCardModel(string BasePath, JobView Job, AntiforgeryTokenSet Tokens);

/// <summary>A job in a section of the dashboard: its element id is <c>{Section}-{job id}</c>.</summary>
public sealed record JobCardModel(string BasePath, JobView Job, string Tone, string Section)
{
    /// <summary>A succeeded job in this section offers its rollback (a link to the confirmation page).</summary>
    public bool OffersRollback { get; init; }
}

/// <summary>The managed containers' table; <paramref name="Error"/> when Docker did not answer.</summary>
public sealed record ContainersModel(string BasePath, IReadOnlyList<ManagedContainer> Containers, string? Error);

/// <summary>One job on its own page: the whole timeline, the log tail, the backup set it made.</summary>
public sealed record JobPageModel(string BasePath, JobView Job);

/// <summary>The confirmation of a rollback of a finished update: what it does, or why it cannot.</summary>
public sealed record RollbackConfirmModel(string BasePath, RollbackPlan? Plan, RollbackRefusal? Refusal, bool RestoreData, AntiforgeryTokenSet Tokens);

/// <summary>How the dashboard colours states and times them.</summary>
public static class StatusWording
{
    public static string Tone(JobState state) => state switch
    {
        JobState.Succeeded => "ok",
        JobState.Failed => "bad",
        JobState.RolledBack => "warn",
        _ => "",
    };

    public static string Tone(StepState state) => state is StepState.Failed or StepState.Interrupted ? "bad" : "";

    public static string ShortId(string id) => id[..Math.Min(19, id.Length)];

    public static string Time(DateTimeOffset value) => value.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);
}
