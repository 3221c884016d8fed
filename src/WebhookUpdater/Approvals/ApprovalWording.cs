using System.Globalization;
using WebhookUpdater.Updates;

namespace WebhookUpdater.Approvals;

/// <summary>
/// The sentences the approval pages (Approvals/Pages) and their problem+json twins share: plain
/// text, encoded by whatever renders it.
/// </summary>
public static class ApprovalWording
{
    public static string RefusalTitle(LinkStatus status) => status switch
    {
        LinkStatus.Used => "This link was already used",
        LinkStatus.Superseded => "A newer image replaced this update",
        LinkStatus.Expired => "This link has expired",
        LinkStatus.NotWaiting => "This update no longer waits for approval",
        _ => "This link is not valid",
    };

    public static string Decision(LinkState state)
    {
        var approval = state.Approval!;
        var how = approval.DecidedVia == ApprovalDecisions.ViaApi ? "through the admin API" : "with this link";
        return $"The update of {state.Job!.Container} was {approval.Decision} {how} at {Time(approval.DecidedAt ?? approval.IssuedAt)}.";
    }

    public static string JobSummary(JobView job) =>
        job.State switch
        {
            JobState.Queued => "queued: it starts when the worker is free",
            JobState.Running => JobState.Running.Name(),
            _ => $"{job.State.Name()}{(string.IsNullOrEmpty(job.Outcome) ? "" : $", {job.Outcome}")}{(string.IsNullOrEmpty(job.Reason) ? "" : $": {job.Reason}")}",
        };

    public static string Time(DateTimeOffset value) => value.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);

    public static string Until(TimeSpan left) =>
        left.TotalDays >= 1 ? $"in {Math.Round(left.TotalDays)} day(s)" : left.TotalHours >= 1 ? $"in {(int)left.TotalHours} hour(s)" : $"in {Math.Max(0, (int)left.TotalMinutes)} minute(s)";
}
