using Microsoft.AspNetCore.Antiforgery;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using WebhookUpdater.Updates;

namespace WebhookUpdater.Status;

/// <summary>Server-rendered, self-contained pages (one inline style block, no script), readable on a phone.</summary>
internal static class StatusPages
{
    public const string HtmlType = "text/html; charset=utf-8";

    private static readonly HtmlEncoder Html = HtmlEncoder.Default;

    public static string Login(string basePath, string? error, bool canLogIn, AntiforgeryTokenSet tokens) =>
        Layout("WebhookUpdater", refresh: false, body: $"""
            <h1>WebhookUpdater</h1>
            {(error is null ? "" : $"<p class=\"bad\">{E(error)}</p>")}
            {(canLogIn
                ? $"""
                  <form method="post" action="{E(basePath)}/login" class="login">
                    {Hidden(tokens)}
                    <label for="token">Admin token</label>
                    <input id="token" name="token" type="password" autocomplete="current-password" required>
                    <button type="submit">Log in</button>
                  </form>
                  """
                : "<p>No admin token is configured (Admin:Token): the status page is closed.</p>")}
            """);

    public static string Dashboard(string basePath, StatusModel model, string? notice, AntiforgeryTokenSet tokens)
    {
        var body = new StringBuilder();
        body.Append(CultureInfo.InvariantCulture, $"""
            <header><h1>WebhookUpdater</h1><form method="post" action="{E(basePath)}/logout">{Hidden(tokens)}<button class="link" type="submit">Log out</button></form></header>
            <p class="muted">As of {E(Time(model.Now))}; this page refreshes every 5 s.</p>
            """);
        if (notice is not null)
        {
            body.Append(CultureInfo.InvariantCulture, $"<p class=\"notice\" role=\"status\">{E(notice)}</p>");
        }

        body.Append(Section("Needs attention", model.Attention.Count == 0
            ? "<p class=\"ok\">Nothing needs you.</p>"
            : string.Concat(model.Attention.Select(job => JobCard(job, "bad", "attention")))));
        body.Append(Section("Waiting for approval", model.Pending.Count == 0
            ? "<p class=\"muted\">No update waits for approval.</p>"
            : string.Concat(model.Pending.Select(job => PendingCard(basePath, job, tokens)))));
        body.Append(Section("Running and queued", model.Active.Count == 0
            ? "<p class=\"muted\">Idle.</p>"
            : string.Concat(model.Active.Select(job => JobCard(job, "", "active")))));
        foreach (var (title, rows) in model.Sections)
        {
            body.Append(Section(title, rows.Count == 0
                ? "<p class=\"muted\">Nothing yet.</p>"
                : $"<table>{string.Concat(rows.Select(row => $"<tr><th>{E(row.Label)}</th><td class=\"{E(row.Tone)}\">{E(row.Value)}</td></tr>"))}</table>"));
        }

        body.Append(Section("Recent jobs", model.Recent.Count == 0
            ? "<p class=\"muted\">No jobs yet.</p>"
            : string.Concat(model.Recent.Select(job => JobCard(job, Tone(job.State), "job")))));
        return Layout("WebhookUpdater status", refresh: true, body.ToString());
    }

    private static string PendingCard(string basePath, JobView job, AntiforgeryTokenSet tokens) => $"""
        <div class="card pending" id="pending-{E(job.Id)}">
          <div class="title"><b>{E(job.Container)}</b> <span class="state">{E(job.State.Name())}</span></div>
          <div class="muted">{E(job.CurrentImage)} → {E(job.Image)}</div>
          <div class="muted mono">{E(job.Digest)}</div>
          <div class="actions">
            <form method="post" action="{E(basePath)}/status/jobs/{E(job.Id)}/approve">{Hidden(tokens)}<button class="approve" type="submit">Approve</button></form>
            <form method="post" action="{E(basePath)}/status/jobs/{E(job.Id)}/reject">{Hidden(tokens)}<button class="reject" type="submit">Reject</button></form>
          </div>
        </div>
        """;

    private static string JobCard(JobView job, string tone, string section)
    {
        var steps = job.Steps.Count == 0
            ? ""
            : $"<details><summary>{job.Steps.Count} step(s)</summary><ol class=\"steps\">{string.Concat(job.Steps.Select(step => $"<li class=\"{Tone(step.State)}\"><b>{E(step.Name)}</b> {E(step.State.Name())} <span class=\"muted\">{E(Time(step.StartedAt))}</span><br><span class=\"muted\">{E(step.Detail)}</span></li>"))}</ol></details>";
        return $"""
            <div class="card" id="{section}-{E(job.Id)}" data-job="{E(job.Id)}" data-section="{section}" data-state="{E(job.State.Name())}">
              <div class="title"><b>{E(job.Container)}</b> <span class="state {tone}">{E(job.State.Name())}</span> <span class="muted">{E(job.Policy)}</span></div>
              <div class="muted">{E(job.Image)} · {E(Time(job.UpdatedAt))}</div>
              <div>{E(job.Outcome ?? job.Reason)}</div>
              {steps}
            </div>
            """;
    }

    private static string Tone(JobState state) => state switch
    {
        JobState.Succeeded => "ok",
        JobState.Failed => "bad",
        JobState.RolledBack => "warn",
        _ => "",
    };

    private static string Tone(StepState state) => state is StepState.Failed or StepState.Interrupted ? "bad" : "";

    private static string Section(string title, string content) => $"<section><h2>{E(title)}</h2>{content}</section>";

    private static string Layout(string title, bool refresh, string body) => $$"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        {{(refresh ? "<meta http-equiv=\"refresh\" content=\"5\">" : "")}}
        <title>{{E(title)}}</title>
        <style>
          body { font: 16px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 52rem; padding: 1rem; color: #1b1f24; }
          header { display: flex; justify-content: space-between; align-items: center; }
          h1 { font-size: 1.4rem; margin: .2rem 0; } h2 { font-size: 1.1rem; margin: 1.4rem 0 .5rem; }
          .card { border: 1px solid #d0d7de; border-radius: 8px; padding: .6rem .8rem; margin: .5rem 0; overflow-wrap: anywhere; }
          .muted { color: #57606a; font-size: .9rem; } .mono { font-family: ui-monospace, monospace; }
          .ok { color: #1a7f37; } .warn { color: #9a6700; } .bad { color: #cf222e; }
          .state { font-size: .85rem; border: 1px solid currentColor; border-radius: 1rem; padding: 0 .5rem; }
          .notice { background: #ddf4ff; padding: .5rem .8rem; border-radius: 6px; }
          .actions { display: flex; gap: .6rem; margin-top: .5rem; } .actions form { margin: 0; }
          button { font: inherit; padding: .45rem 1rem; border-radius: 6px; border: 1px solid #d0d7de; background: #f6f8fa; }
          button.approve { background: #1a7f37; color: #fff; border-color: #1a7f37; } button.reject { background: #fff; color: #cf222e; border-color: #cf222e; }
          button.link { border: 0; background: none; color: #0969da; padding: 0; }
          table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .25rem .4rem; border-bottom: 1px solid #eaeef2; vertical-align: top; }
          .login { display: grid; gap: .5rem; max-width: 20rem; } input { font: inherit; padding: .4rem; }
          ol.steps { padding-left: 1.2rem; }
        </style>
        </head>
        <body>
        {{body}}
        </body>
        </html>
        """;

    private static string Time(DateTimeOffset value) => value.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);

    private static string Hidden(AntiforgeryTokenSet tokens) => $"<input type=\"hidden\" name=\"{E(tokens.FormFieldName)}\" value=\"{E(tokens.RequestToken)}\">";

    private static string E(string? value) => Html.Encode(value ?? "");
}
