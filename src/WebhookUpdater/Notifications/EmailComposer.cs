using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;

namespace WebhookUpdater.Notifications;

/// <summary>
/// Renders a notification as an email with a plain-text and an HTML part. The kinds it knows get
/// a full template; any other kind (other features add theirs) gets its Subject and Summary.
/// Everything that came from outside (container names, images, the hub link) is encoded, and
/// only http(s) links become links.
/// </summary>
public sealed class EmailComposer(IPublicLinks links)
{
    private static readonly HtmlEncoder Html = HtmlEncoder.Default;

    public EmailContent Compose(Notification notification) => notification switch
    {
        UpdateAvailableNotification available => UpdateAvailable(available),
        DigestNotification digest => Digest(digest),
        JobNotification job when job.Kind is NotificationKinds.UpdateFailed => UpdateFailed(job),
        JobNotification job when job.Kind is NotificationKinds.UpdateSucceeded => UpdateSucceeded(job),
        _ => Fallback(notification),
    };

    private EmailContent UpdateAvailable(UpdateAvailableNotification n)
    {
        var facts = Facts(n.JobId, n.Container, n.CurrentImage, n.NewImage, n.Digest, n.HubLink)
            .Append(("Link expires", n.ExpiresAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture), null))
            .ToList();
        var steps = new[]
        {
            "back up the container's data (pre-update snapshot)",
            $"pull {n.NewImage} and check it is exactly {n.Digest}",
            $"recreate {n.Container} on the new image with its current configuration",
            "wait until the new container passes its health gate",
            "if anything fails: roll back to the current container and image, and email you",
        };

        var text = new StringBuilder()
            .AppendLine($"A new image is available for {n.Container}, which updates only with your approval.")
            .AppendLine()
            .AppendLine(TextFacts(facts))
            .AppendLine()
            .Append(TextImages(n.Images))
            .AppendLine("Open this link to see what will happen and to approve or reject (it works once):")
            .AppendLine(n.ApprovalUrl)
            .AppendLine()
            .AppendLine("Approving will:")
            .AppendJoin(Environment.NewLine, steps.Select((step, i) => $"  {i + 1}. {step}"))
            .AppendLine()
            .ToString();

        var html = Page(
            $"Update for {n.Container} waits for your approval",
            $"""
            <p>A new image is available for <b>{E(n.Container)}</b>, which updates only with your approval.</p>
            {HtmlFacts(facts)}
            {HtmlImages(n.Images)}
            <p><a href="{E(n.ApprovalUrl)}" style="display:inline-block;padding:10px 16px;background:#1f6feb;color:#fff;text-decoration:none;border-radius:6px">Review and decide</a></p>
            <p style="color:#555">The link opens a page that says what will happen; nothing changes until you press Approve there. It works once.</p>
            <p>Approving will:</p>
            <ol>{string.Concat(steps.Select(step => $"<li>{E(step)}</li>"))}</ol>
            """);
        return new EmailContent(n.Subject, text, html);
    }

    private EmailContent UpdateFailed(JobNotification n)
    {
        var facts = Facts(n.JobId, n.Container, n.CurrentImage, n.NewImage, n.Digest, n.HubLink)
            .Prepend(("Outcome", n.Outcome, null))
            .Append(("Policy", n.Policy, null))
            .ToList();
        var rolledBack = n.Outcome.StartsWith("rolled back", StringComparison.Ordinal);
        var state = rolledBack
            ? n.Outcome.Contains("healthy", StringComparison.Ordinal) && !n.Outcome.Contains("still failing", StringComparison.Ordinal)
                ? $"{n.Container} was rolled back and runs its previous image, healthy."
                : $"{n.Container} was rolled back but is not healthy: look at it now."
            : n.Outcome == "nothing changed"
                ? $"{n.Container} was not touched: it still runs its current image."
                : $"Action required: check {n.Container} now.";

        var text = new StringBuilder()
            .AppendLine($"The update of {n.Container} failed. {state}")
            .AppendLine()
            .AppendLine($"What failed: {n.Reason}")
            .AppendLine()
            .AppendLine(TextFacts(facts));
        if (!string.IsNullOrWhiteSpace(n.LogTail))
        {
            text.AppendLine().AppendLine("Last log lines of the new container:").AppendLine(n.LogTail);
        }

        var html = Page(
            $"Update of {n.Container} failed",
            $"""
            <p><b>{E(state)}</b></p>
            <p>What failed: {E(n.Reason)}</p>
            {HtmlFacts(facts)}
            {(string.IsNullOrWhiteSpace(n.LogTail) ? "" : $"<p>Last log lines of the new container:</p><pre style=\"background:#f6f8fa;padding:8px;overflow:auto;font-size:12px\">{E(n.LogTail)}</pre>")}
            """);
        return new EmailContent(n.Subject, text.ToString(), html);
    }

    private EmailContent UpdateSucceeded(JobNotification n)
    {
        var facts = Facts(n.JobId, n.Container, n.CurrentImage, n.NewImage, n.Digest, n.HubLink).ToList();
        var text = new StringBuilder()
            .AppendLine($"{n.Container} was updated and passed its health gate.")
            .AppendLine()
            .AppendLine(TextFacts(facts))
            .AppendLine()
            .AppendLine(n.Reason)
            .AppendLine(n.ComposeDrift is { } drift ? Environment.NewLine + ComposeText(drift) : "")
            .ToString();
        var html = Page(
            $"{n.Container} was updated",
            $"""
            <p><b>{E(n.Container)}</b> was updated and passed its health gate.</p>
            {HtmlFacts(facts)}
            <p style="color:#555">{E(n.Reason)}. The previous image is kept on the host.</p>
            {(n.ComposeDrift is { } moved ? ComposeHtml(moved) : "")}
            """);
        return new EmailContent(n.Subject, text, html);
    }

    private static string ComposeText(WebhookUpdater.Containers.ComposeDrift drift) => drift.Rewritten
        ? $"Compose: {drift.Summary}."
        : $"Compose: the project {drift.Project} still names {drift.From}; a `docker compose up -d` now would recreate {drift.Service ?? "the service"} on it. "
          + (drift.Variable is null ? $"Change the service's image to {drift.To}." : $"Set this line in its .env:{Environment.NewLine}    {drift.Line}")
          + (string.IsNullOrEmpty(drift.Note) ? "" : $"{Environment.NewLine}({drift.Note})");

    private static string ComposeHtml(WebhookUpdater.Containers.ComposeDrift drift) => drift.Rewritten
        ? $"<p>Compose: {E(drift.Summary)}.</p>"
        : $"<p><b>The compose project {E(drift.Project)} still names {E(drift.From)}</b>: a <code>docker compose up -d</code> now would recreate {E(drift.Service ?? "the service")} on it. "
          + (drift.Variable is null ? $"Change the service's image to <code>{E(drift.To)}</code>." : "Set this line in its <code>.env</code>:")
          + "</p>"
          + (drift.Variable is null ? "" : $"<pre style=\"background:#f6f8fa;padding:8px\">{E(drift.Line)}</pre>")
          + (string.IsNullOrEmpty(drift.Note) ? "" : $"<p style=\"color:#555\">{E(drift.Note)}</p>");

    private static EmailContent Digest(DigestNotification n)
    {
        const string cell = "padding:4px 12px 4px 0;vertical-align:top;border-bottom:1px solid #eaeef2";
        var rows = string.Concat(n.Lines.Select(line =>
            $"<tr><td style=\"{cell}\"><b>{E(line.Container)}</b><br><span style=\"color:#555\">now {E(line.CurrentImage ?? "unknown")}</span></td>"
            + $"<td style=\"{cell};font-family:monospace;word-break:break-all\">{E(line.Image)}<br>{E(line.Digest)}</td>"
            + $"<td style=\"{cell}\">{E(line.SeenAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture))}</td>"
            + $"<td style=\"{cell}\">{(line.HubLink is { } hub && IsHttp(hub) ? $"<a href=\"{E(hub)}\">{E(hub)}</a>" : E(line.HubLink))}</td></tr>"));
        var html = Page(
            n.Title,
            $"""
            <p>{E(n.Intro)}</p>
            <table style="border-collapse:collapse;margin:12px 0"><tr><th style="text-align:left">Container</th><th style="text-align:left">Image and digest</th><th style="text-align:left">Seen</th><th style="text-align:left">Link</th></tr>{rows}</table>
            """);
        return new EmailContent(n.Subject, n.Summary, html);
    }

    /// <summary>From and to, row by row; empty when the images were not looked at.</summary>
    private static string TextImages(ImageComparison? images)
    {
        if (images is null)
        {
            return "";
        }

        var text = new StringBuilder().AppendLine("What changes (current -> new):");
        foreach (var (label, from, to) in images.Rows())
        {
            text.AppendLine($"  {label}: {from} -> {to}");
        }

        text.AppendLine($"  Size change: {images.SizeChange ?? "unknown"}");
        if (images.ReleaseNotes is { } notes)
        {
            text.AppendLine($"Release notes: {notes}");
        }

        if (images.PullError is { } error)
        {
            text.AppendLine($"The new image could not be pulled yet ({error}); approving pulls it again.");
        }

        return text.AppendLine().ToString();
    }

    private static string HtmlImages(ImageComparison? images)
    {
        if (images is null)
        {
            return "";
        }

        const string cell = "padding:4px 12px 4px 0;font-family:monospace;word-break:break-all;vertical-align:top";
        var rows = images.Rows().Append(("Size change", "", images.SizeChange ?? "unknown")).Select(row => (Label: row.Item1, From: row.Item2, To: row.Item3));
        return "<table style=\"border-collapse:collapse;margin:12px 0\"><tr><th></th><th style=\"text-align:left;color:#555\">Current</th><th style=\"text-align:left;color:#555\">New</th></tr>"
            + string.Concat(rows.Select(row =>
                $"<tr><th style=\"text-align:left;padding:4px 12px 4px 0;vertical-align:top;color:#555;font-weight:normal\">{E(row.Label)}</th>"
                + $"<td style=\"{cell}\">{E(row.From)}</td><td style=\"{cell}\">{E(row.To)}</td></tr>"))
            + "</table>"
            + (images.ReleaseNotes is { } notes ? $"<p>Release notes: <a href=\"{E(notes)}\">{E(notes)}</a></p>" : "")
            + (images.PullError is { } error ? $"<p style=\"color:#9a6700\">The new image could not be pulled yet ({E(error)}); approving pulls it again.</p>" : "");
    }

    private static EmailContent Fallback(Notification n) =>
        new(n.Subject, n.Summary, Page(n.Subject, $"<pre style=\"white-space:pre-wrap;font-family:inherit\">{E(n.Summary)}</pre>"));

    private IEnumerable<(string Label, string? Value, string? Link)> Facts(
        string jobId, string container, string? currentImage, string newImage, string digest, string? hubLink)
    {
        yield return ("Container", container, null);
        yield return ("Current image", currentImage ?? "unknown", null);
        yield return ("New image", newImage, null);
        yield return ("Digest", digest, null);
        if (!string.IsNullOrWhiteSpace(hubLink))
        {
            yield return ("Release page", hubLink, IsHttp(hubLink) ? hubLink : null);
        }

        var page = links.JobPage(jobId);
        yield return ("Job", page is null ? jobId : $"{jobId} ({page}, admin token)", page);
    }

    private static string TextFacts(IEnumerable<(string Label, string? Value, string? Link)> facts) =>
        string.Join(Environment.NewLine, facts.Select(fact => $"{fact.Label}: {fact.Value}"));

    private static string HtmlFacts(IEnumerable<(string Label, string? Value, string? Link)> facts) =>
        "<table style=\"border-collapse:collapse;margin:12px 0\">"
        + string.Concat(facts.Select(fact =>
            $"<tr><th style=\"text-align:left;padding:4px 12px 4px 0;vertical-align:top;color:#555;font-weight:normal\">{E(fact.Label)}</th>"
            + $"<td style=\"padding:4px 0;font-family:monospace;word-break:break-all\">{(fact.Link is null ? E(fact.Value) : $"<a href=\"{E(fact.Link)}\">{E(fact.Value)}</a>")}</td></tr>"))
        + "</table>";

    private static string Page(string title, string body) =>
        $"""
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>{E(title)}</title></head>
        <body style="font-family:-apple-system,Segoe UI,Roboto,sans-serif;font-size:15px;line-height:1.5;color:#1f2328;max-width:640px;margin:0 auto;padding:16px">
        <h2 style="font-size:20px">{E(title)}</h2>
        {body}
        <p style="color:#888;font-size:12px">Sent by WebhookUpdater.</p>
        </body></html>
        """;

    private static string E(string? value) => Html.Encode(value ?? "");

    internal static bool IsHttp(string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);
}
