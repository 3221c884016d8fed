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
public sealed record JobCardModel(JobView Job, string Tone, string Section)
{
    /// <summary>Set where a succeeded job offers its rollback (a link to the confirmation page).</summary>
    public string? BasePath { get; init; }
}

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
