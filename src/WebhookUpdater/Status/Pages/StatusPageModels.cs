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
public sealed record JobCardModel(string BasePath, JobView Job, string Tone, string Section);

/// <summary>The managed containers' table; <paramref name="Error"/> when Docker did not answer.</summary>
public sealed record ContainersModel(string BasePath, IReadOnlyList<ManagedContainer> Containers, string? Error);

/// <summary>One job on its own page: the whole timeline, the log tail, the backup set it made.</summary>
public sealed record JobPageModel(string BasePath, JobView Job);

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

    /// <summary><c>sha256:</c> and the first 12 hex digits, like docker's short ids.</summary>
    public static string ShortDigest(string digest) => digest.Length > 19 ? digest[..19] : digest;

    public static string Time(DateTimeOffset value) => value.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);
}
