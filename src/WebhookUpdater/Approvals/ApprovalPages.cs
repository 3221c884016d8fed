using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using WebhookUpdater.Notifications;
using WebhookUpdater.Updates;

namespace WebhookUpdater.Approvals;

/// <summary>
/// The pages a person sees, server-rendered, self-contained (no script, no external asset, one
/// inline style block) and readable on a phone. Every value is HTML-encoded; only http(s) links
/// become links. The token is never echoed except in the progress link the holder already has.
/// </summary>
internal static class ApprovalPages
{
    private static readonly HtmlEncoder Html = HtmlEncoder.Default;

    public static string Confirm(JobView job, ApprovalRecord approval, DateTimeOffset now) =>
        Layout(
            $"Update {job.Container}?",
            $"""
            <p class="lead">A new image is available for <b>{E(job.Container)}</b>. Nothing changes until you press <b>Approve</b>.</p>
            {Facts(job, ("Link expires", $"{Time(approval.ExpiresAt)} ({Until(approval.ExpiresAt - now)})"))}
            <h2>What Approve does</h2>
            <ol class="steps">
              <li><b>Backup</b>: a snapshot of {E(job.Container)}'s data is taken first; if it fails, nothing is changed.</li>
              <li><b>Pull</b>: {E(job.Image)} is pulled and must be exactly {E(job.Digest)}.</li>
              <li><b>Recreate</b>: {E(job.Container)} is recreated on the new image with its current configuration, volumes and networks; the old container is kept aside.</li>
              <li><b>Health gate</b>: the new container must become healthy and stay healthy.</li>
              <li><b>Rollback on failure</b>: if any step fails, the old container and image are put back and health-checked, and you get an email saying the state.</li>
            </ol>
            <p>You get an email when it is done. Reject ends this update; a later image starts a new one.</p>
            <div class="actions">
              <form method="post"><input type="hidden" name="decision" value="approve"><button class="approve" type="submit">Approve</button></form>
              <form method="post"><input type="hidden" name="decision" value="reject"><button class="reject" type="submit">Reject</button></form>
            </div>
            """);

    public static string Refused(LinkState state, string? progressUrl) => state.Status switch
    {
        LinkStatus.Used => Layout(
            "This link was already used",
            $"""
            <p class="lead">{E(Decision(state))}</p>
            {Facts(state.Job!, ("Now", JobSummary(state.Job!)))}
            {(progressUrl is null ? "" : $"<p><a href=\"{E(progressUrl)}\">Follow this update</a></p>")}
            """),
        LinkStatus.Superseded => Layout(
            "A newer image replaced this update",
            $"""
            <p class="lead">A newer digest arrived for <b>{E(state.Job!.Container)}</b>{(state.NewerJob is null ? "" : $": job <b>{E(state.NewerJob.Id)}</b> ({E(state.NewerJob.Digest)})")} replaces this one. Use the link in the newer email.</p>
            {Facts(state.Job!)}
            """),
        LinkStatus.Expired => Layout(
            "This link has expired",
            $"""
            <p class="lead">It expired at {E(Time(state.Approval!.ExpiresAt))}. Nothing was changed.</p>
            {Facts(state.Job!, ("Now", JobSummary(state.Job!)))}
            <p>The job still waits: it can be approved with <code>POST /api/jobs/{E(state.Job!.Id)}/approve</code> and the admin token.</p>
            """),
        LinkStatus.NotWaiting => Layout(
            "This update no longer waits for approval",
            $"""
            <p class="lead">Job {E(state.Job!.Id)} is {E(state.Job.State.Name())}: {E(state.Job.Reason)}.</p>
            {Facts(state.Job!)}
            """),
        _ => Layout(
            "This link is not valid",
            """
            <p class="lead">The link is damaged, or was not issued by this service. Nothing was changed.</p>
            <p>Open the link from the email again, copying all of it. An operator can also decide with <code>POST /api/jobs/{id}/approve</code> or <code>/reject</code> and the admin token.</p>
            """),
    };

    public static string Rejected(JobView job) =>
        Layout(
            $"Update of {job.Container} rejected",
            $"""
            <p class="lead">Nothing was changed: {E(job.Container)} keeps running {E(job.CurrentImage)}.</p>
            {Facts(job, ("Now", JobSummary(job)))}
            """);

    public static string Progress(JobView job, bool final) =>
        Layout(
            final ? $"Update of {job.Container}: {job.State.Name()}" : $"Updating {job.Container}…",
            $"""
            <p class="lead">{(final ? E(JobSummary(job)) : "The update runs; this page refreshes every 2 seconds until it ends.")}</p>
            <p class="state state-{E(job.State.Name())}" id="job-state">{E(job.State.Name())}</p>
            {Facts(job)}
            <h2>Steps</h2>
            <ol class="steps">{(job.Steps.Count == 0 ? "<li>waiting for its turn</li>" : string.Concat(job.Steps.Select(step => $"<li><b>{E(step.Name)}</b>: {E(step.State.Name())}{(string.IsNullOrEmpty(step.Detail) ? "" : $" <span class=\"muted\">{E(step.Detail)}</span>")}</li>")))}</ol>
            """,
            refreshSeconds: final ? null : 2);

    public static string Problem(string title, string detail) =>
        Layout(title, $"<p class=\"lead\">{E(detail)}</p>");

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

    private static string Until(TimeSpan left) =>
        left.TotalDays >= 1 ? $"in {Math.Round(left.TotalDays)} day(s)" : left.TotalHours >= 1 ? $"in {(int)left.TotalHours} hour(s)" : $"in {Math.Max(0, (int)left.TotalMinutes)} minute(s)";

    private static string Facts(JobView job, params (string Label, string Value)[] extra)
    {
        var rows = new List<(string Label, string Value, string? Link)>
        {
            ("Container", job.Container, null),
            ("Current image", job.CurrentImage ?? "unknown", null),
            ("New image", job.Image, null),
            ("Digest", job.Digest, null),
        };
        if (!string.IsNullOrWhiteSpace(job.HubLink))
        {
            rows.Add(("Release page", job.HubLink, EmailComposer.IsHttp(job.HubLink) ? job.HubLink : null));
        }

        rows.Add(("Job", job.Id, null));
        rows.AddRange(extra.Select(e => (e.Label, e.Value, (string?)null)));
        var html = new StringBuilder("<dl class=\"facts\">");
        foreach (var (label, value, link) in rows)
        {
            html.Append("<dt>").Append(E(label)).Append("</dt><dd>")
                .Append(link is null ? E(value) : $"<a href=\"{E(link)}\" rel=\"noreferrer noopener\">{E(value)}</a>")
                .Append("</dd>");
        }

        return html.Append("</dl>").ToString();
    }

    private static string Layout(string title, string body, int? refreshSeconds = null) =>
        $$"""
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="robots" content="noindex, nofollow">
        <meta name="referrer" content="no-referrer">
        {{(refreshSeconds is { } seconds ? $"<meta http-equiv=\"refresh\" content=\"{seconds}\">" : "")}}
        <title>{{E(title)}} · WebhookUpdater</title>
        <style>
        body{font-family:-apple-system,"Segoe UI",Roboto,sans-serif;font-size:16px;line-height:1.5;color:#1f2328;background:#f6f8fa;margin:0}
        main{max-width:640px;margin:0 auto;padding:16px;background:#fff;min-height:100vh;box-sizing:border-box;overflow-wrap:anywhere}
        h1{font-size:1.4em;margin:.2em 0 .6em}h2{font-size:1.1em;margin-top:1.4em}
        .lead{font-size:1.05em}.muted{color:#59636e;font-size:.9em}
        dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 12px;margin:12px 0}
        dt{color:#59636e}dd{margin:0;font-family:ui-monospace,Menlo,monospace;font-size:.9em;word-break:break-all}
        ol.steps li{margin:4px 0}
        .actions{display:flex;gap:12px;flex-wrap:wrap;margin:20px 0}
        .actions form{flex:1 1 140px}
        button{width:100%;font-size:1.1em;padding:14px;border:0;border-radius:8px;cursor:pointer}
        .approve{background:#1a7f37;color:#fff}.reject{background:#eaeef2;color:#1f2328}
        .state{display:inline-block;padding:4px 10px;border-radius:12px;background:#eaeef2;font-weight:600}
        .state-succeeded{background:#dafbe1}.state-failed,.state-rolled_back{background:#ffebe9}
        code{font-size:.9em}
        </style>
        </head>
        <body><main>
        <h1>{{E(title)}}</h1>
        {{body}}
        <p class="muted">WebhookUpdater</p>
        </main></body>
        </html>
        """;

    private static string E(string? value) => Html.Encode(value ?? "");
}
