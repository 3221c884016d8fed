using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Antiforgery;
using RazorSlices;
using WebhookUpdater.Approvals;
using WebhookUpdater.Approvals.Pages;
using WebhookUpdater.Observability;
using WebhookUpdater.Pages;
using WebhookUpdater.Status;
using WebhookUpdater.Status.Pages;
using WebhookUpdater.Updates;

namespace WebhookUpdater.Tests.Pages;

/// <summary>
/// Every page kind rendered from its template with values a hostile image or container label could
/// carry: markup and quotes come out encoded, never as tags or broken attributes.
/// </summary>
public sealed class PageEncodingTests
{
    private const string Hostile = "<script>alert(\"x\")</script>' onmouseover='y";
    private static readonly DateTimeOffset Now = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);

    private static JobView Job(JobState state = JobState.AwaitingApproval) =>
        new("job-1", 1, Hostile, null, "manual", Decision.AwaitingApproval, state, Hostile + ":1", "sha256:" + Hostile, Hostile, "https://example.test/?q=\"" + Hostile, Hostile, "job-2", Now, Now,
            [new JobStep(1, Hostile, StepState.Failed, Now, Now, Hostile)])
        { Outcome = Hostile };

    private static ApprovalRecord Approval(string? decision = null) =>
        new("nonce", "job-1", Hostile, "sha256:" + Hostile, Now, Now.AddDays(1), decision, decision is null ? null : Now, decision is null ? null : ApprovalDecisions.ViaLink);

    private static readonly AntiforgeryTokenSet Tokens = new("request\"token", "cookie", "__RequestVerificationToken", "X-CSRF");

    public static TheoryData<string> Kinds() =>
    [
        "confirm", "refused-used", "refused-superseded", "refused-expired", "refused-not-waiting", "refused-invalid",
        "rejected", "progress", "progress-final", "problem", "too-many-requests", "login", "dashboard",
    ];

    private static RazorSlice Page(string kind) => kind switch
    {
        "confirm" => Confirm.Create(new(Job(), Approval(), Now)),
        "refused-used" => Refused.Create(new(new LinkState(LinkStatus.Used, Approval(ApprovalDecisions.Approved), Job(JobState.Running)), "/approvals/" + Hostile + "/progress")),
        "refused-superseded" => Refused.Create(new(new LinkState(LinkStatus.Superseded, Approval(), Job(JobState.Superseded), Job()), null)),
        "refused-expired" => Refused.Create(new(new LinkState(LinkStatus.Expired, Approval(), Job()), null)),
        "refused-not-waiting" => Refused.Create(new(new LinkState(LinkStatus.NotWaiting, Approval(), Job(JobState.Failed)), null)),
        "refused-invalid" => Refused.Create(new(new LinkState(LinkStatus.Invalid), null)),
        "rejected" => Rejected.Create(Job(JobState.Rejected)),
        "progress" => Progress.Create(new(Job(JobState.Running), false)),
        "progress-final" => Progress.Create(new(Job(JobState.RolledBack), true)),
        "problem" => PageResults.Problem(400, Hostile, Hostile),
        "too-many-requests" => WebhookUpdater.Pages.Problem.Create(new(Hostile, Hostile, 7)),
        "login" => Login.Create(new(Hostile, Hostile, true, Tokens)),
        "dashboard" => Dashboard.Create(new(Hostile, Status(), Hostile, Tokens)),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    private static StatusModel Status() =>
        new(Now, [Job(JobState.Failed)], [Job()], [Job(JobState.Running)], [Job(JobState.RolledBack)],
            [(Hostile, [new StatusRow(Hostile, Hostile, Hostile)])]);

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task A_value_with_markup_and_quotes_is_encoded_on_every_page(string kind)
    {
        var html = await Page(kind).RenderAsync(HtmlEncoder.Default, TestContext.Current.CancellationToken);

        Assert.StartsWith("<!DOCTYPE html>", html.TrimStart(), StringComparison.Ordinal);
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("' onmouseover='", html, StringComparison.Ordinal);
        Assert.DoesNotContain("\"x\"", html, StringComparison.Ordinal);
        Assert.True(kind == "refused-invalid" || html.Contains("&lt;script&gt;", StringComparison.Ordinal), "the value is not on the page");
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(html, "<h1>"));
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(html, "<style>"));
    }

    [Fact]
    public async Task Only_an_http_release_page_becomes_a_link()
    {
        var http = Job() with { HubLink = "https://hub.example/r/gitea" };
        var other = Job() with { HubLink = "javascript:alert(1)" };

        var linked = await Confirm.Create(new(http, Approval(), Now)).RenderAsync(HtmlEncoder.Default, TestContext.Current.CancellationToken);
        var plain = await Confirm.Create(new(other, Approval(), Now)).RenderAsync(HtmlEncoder.Default, TestContext.Current.CancellationToken);

        Assert.Contains("href=\"https://hub.example/r/gitea\"", linked, StringComparison.Ordinal);
        Assert.DoesNotContain("href=\"javascript", plain, StringComparison.Ordinal);
        Assert.Contains("javascript:alert(1)", plain, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_progress_page_refreshes_until_the_job_is_final()
    {
        var running = await Progress.Create(new(Job(JobState.Running), false)).RenderAsync(HtmlEncoder.Default, TestContext.Current.CancellationToken);
        var done = await Progress.Create(new(Job(JobState.Succeeded), true)).RenderAsync(HtmlEncoder.Default, TestContext.Current.CancellationToken);

        Assert.Contains($"<meta http-equiv=\"refresh\" content=\"{ApprovalsApi.ProgressRefreshSeconds}\">", running, StringComparison.Ordinal);
        Assert.Contains("id=\"job-state\">running</p>", running, StringComparison.Ordinal);
        Assert.DoesNotContain("http-equiv", done, StringComparison.Ordinal);
        Assert.Contains("id=\"job-state\">succeeded</p>", done, StringComparison.Ordinal);
    }
}
