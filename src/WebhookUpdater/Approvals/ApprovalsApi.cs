using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;
using RazorSlices;
using WebhookUpdater.Approvals.Pages;
using WebhookUpdater.Configuration;
using WebhookUpdater.Notifications;
using WebhookUpdater.Pages;
using WebhookUpdater.Persistence;
using WebhookUpdater.Security;
using WebhookUpdater.Updates;

namespace WebhookUpdater.Approvals;

/// <summary>What a decision answers a client that asked for JSON.</summary>
public sealed record DecisionAnswer(string JobId, string Container, JobState State, string? Progress);

/// <summary>The progress of an approved job, for clients that poll (no secrets in it).</summary>
public sealed record JobProgress(string JobId, string Container, JobState State, bool Final, string? Outcome, string? Reason, IReadOnlyList<StepProgress> Steps);

public sealed record StepProgress(string Name, StepState State);

/// <summary>
/// The emailed link: GET shows what will happen (and never changes anything, mail scanners open
/// links), POST decides. No antiforgery token: the link itself is the unguessable, single-use
/// capability and there is no cookie or session to ride on (see docs/approvals.md).
/// </summary>
public static class ApprovalsApi
{
    public const string RateLimitPolicy = "approvals";
    public const string ProgressRateLimitPolicy = "approval-progress";

    /// <summary>How often the progress page reloads itself until the job is final.</summary>
    public const int ProgressRefreshSeconds = 2;

    /// <summary>A few tabs of the progress page fit, and their reloads never use up the decisions' budget.</summary>
    public const int ProgressPermitsPerMinute = 120;

    public static IServiceCollection AddApprovals(this IServiceCollection services)
    {
        if (!services.FirstRegistrationOf(nameof(Approvals)))
        {
            return services;
        }

        // An approved job goes to the update queue: approvals without the worker would approve into nothing.
        services.AddUpdates();
        services.AddNotifications();
        services.AddOptions<ApprovalOptions>()
            .BindConfiguration(ApprovalOptions.Section)
            .Configure<IConfiguration>((options, configuration) => options.SigningKey = configuration.ReadSecret("Approvals:SigningKey"))
            .ValidateOnStart();
        services.AddSingleton<IPostConfigureOptions<ApprovalOptions>, ApprovalDevelopmentDefaults>();
        services.AddSingleton<IValidateOptions<ApprovalOptions>, ApprovalOptionsValidator>();
        services.AddSingleton<ApprovalTokens>();
        services.AddSingleton<ApprovalStore>();
        services.AddSingleton(ApprovalsRetention.Approvals);
        services.AddSingleton<ApprovalLinks>();
        services.AddSingleton<IPublicLinks>(provider => provider.GetRequiredService<ApprovalLinks>());
        services.AddSingleton<ApprovalImages>();
        services.AddSingleton<ApprovalService>();
        services.AddHostedService<ApprovalIssuer>();
        services.AddRetiredSetting("Approvals:ScanInterval", "a waiting job's link is issued as soon as the webhook stored the job");
        services.AddRateLimiter(limiter =>
        {
            limiter.AddPolicy(RateLimitPolicy, new ClientRateLimit(
                context => context.RequestServices.GetRequiredService<IOptionsMonitor<ApprovalOptions>>().CurrentValue.PermitsPerMinute,
                "Too many requests for approval links from this address."));
            limiter.AddPolicy(ProgressRateLimitPolicy, new ClientRateLimit(
                _ => ProgressPermitsPerMinute,
                "This address reloads the progress page too often."));
        });
        return services;
    }

    public static IEndpointRouteBuilder MapApprovals(this IEndpointRouteBuilder routes)
    {
        var links = routes.MapGroup("/approvals")
            .WithTags("Approvals")
            .WithBodyLimit(BodyLimits.Form)
            .AddEndpointFilter(async (context, next) =>
            {
                PageResults.SecurityHeaders(context.HttpContext.Response);
                return await next(context);
            });
        links.MapGet("/{token}", ShowAsync).RequireRateLimiting(RateLimitPolicy);
        links.MapPost("/{token}", DecideAsync).DisableAntiforgery().RequireRateLimiting(RateLimitPolicy);
        links.MapGet("/{token}/progress", ProgressAsync).RequireRateLimiting(ProgressRateLimitPolicy);

        var admin = routes.MapGroup("/api/jobs")
            .WithTags("Approvals")
            .RequireAuthorization(AuthPolicies.Admin)
            .WithBodyLimit(BodyLimits.AdminApi);
        admin.MapPost("/{id}/approve", (string id, ApprovalService approvals, CancellationToken cancellationToken) =>
            DecideJobAsync(id, ApprovalDecisions.Approve, approvals, cancellationToken));
        admin.MapPost("/{id}/reject", (string id, ApprovalService approvals, CancellationToken cancellationToken) =>
            DecideJobAsync(id, ApprovalDecisions.Reject, approvals, cancellationToken));
        return routes;
    }

    private static async Task<Results<RazorSlice, Ok<DecisionAnswer>, ProblemHttpResult>> ShowAsync(
        string token, HttpRequest request, ApprovalService approvals, ApprovalLinks links, TimeProvider time, CancellationToken cancellationToken)
    {
        var state = await approvals.InspectAsync(token, cancellationToken);
        if (state.Status != LinkStatus.Open)
        {
            return WantsJson(request) ? RefusalProblem(state, links, token) : RefusalPage(state, links, token);
        }

        return WantsJson(request)
            ? TypedResults.Ok(new DecisionAnswer(state.Job!.Id, state.Job.Container, state.Job.State, null))
            : Confirm.Create(new ConfirmModel(state.Job!, state.Approval!, time.GetUtcNow()));
    }

    private static async Task<Results<StatusCodeHttpResult, RazorSlice, ProblemHttpResult, Accepted<DecisionAnswer>, Ok<DecisionAnswer>>> DecideAsync(
        string token, HttpContext http, ApprovalService approvals, ApprovalLinks links, CancellationToken cancellationToken)
    {
        var request = http.Request;
        // Browsers say where a form came from; a post from another site is never the operator's click here.
        if (string.Equals(request.Headers["Sec-Fetch-Site"], "cross-site", StringComparison.OrdinalIgnoreCase))
        {
            const string detail = "A decision is posted from the approval page itself; open the emailed link and press the button there.";
            return WantsJson(request)
                ? ProblemJson(StatusCodes.Status403Forbidden, "Cross-site request refused", detail)
                : ProblemPage(StatusCodes.Status403Forbidden, "Cross-site request refused", detail);
        }

        // The link is the credential: the body is read only once the link is known to be open.
        var link = await approvals.InspectAsync(token, cancellationToken);
        if (link.Status != LinkStatus.Open)
        {
            return WantsJson(request) ? RefusalProblem(link, links, token) : RefusalPage(link, links, token);
        }

        var decision = (request.HasFormContentType ? (await request.ReadFormAsync(cancellationToken))["decision"].ToString() : null) is { Length: > 0 } fromForm
            ? fromForm
            : request.Query["decision"].ToString();
        decision = decision.Trim().ToLowerInvariant();
        if (decision is not (ApprovalDecisions.Approve or ApprovalDecisions.Reject))
        {
            const string detail = "Send decision=approve or decision=reject (as a form field, or in the query string).";
            return WantsJson(request)
                ? ProblemJson(StatusCodes.Status400BadRequest, "Which decision?", detail)
                : ProblemPage(StatusCodes.Status400BadRequest, "Which decision?", detail);
        }

        var (state, decided) = await approvals.DecideAsync(token, decision, cancellationToken);
        if (!decided)
        {
            return WantsJson(request) ? RefusalProblem(state, links, token) : RefusalPage(state, links, token);
        }

        var job = state.Job!;
        if (decision == ApprovalDecisions.Approve)
        {
            var progress = links.Progress(token);
            if (WantsJson(request))
            {
                return TypedResults.Accepted(progress, new DecisionAnswer(job.Id, job.Container, job.State, progress));
            }

            // Post/redirect/get: a reload of the next page does not post again.
            http.Response.Headers.Location = progress;
            return TypedResults.StatusCode(StatusCodes.Status303SeeOther);
        }

        return WantsJson(request)
            ? TypedResults.Ok(new DecisionAnswer(job.Id, job.Container, job.State, null))
            : Rejected.Create(job);
    }

    private static async Task<Results<RazorSlice, Ok<JobProgress>, ProblemHttpResult>> ProgressAsync(
        string token, HttpRequest request, ApprovalService approvals, ApprovalLinks links, CancellationToken cancellationToken)
    {
        var state = await approvals.InspectAsync(token, cancellationToken);
        if (state.Status != LinkStatus.Used || state.Approval?.Decision != ApprovalDecisions.Approved)
        {
            if (state.Status is LinkStatus.Open)
            {
                const string detail = "This update waits for a decision: open the link itself to approve or reject it.";
                return WantsJson(request)
                    ? ProblemJson(StatusCodes.Status409Conflict, "Not approved yet", detail)
                    : ProblemPage(StatusCodes.Status409Conflict, "Not approved yet", detail);
            }

            return WantsJson(request) ? RefusalProblem(state, links, token) : RefusalPage(state, links, token);
        }

        var job = state.Job!;
        var final = job.State.IsFinal();
        return WantsJson(request)
            ? TypedResults.Ok(new JobProgress(job.Id, job.Container, job.State, final, job.Outcome, job.Reason,
                job.Steps.Select(step => new StepProgress(step.Name, step.State)).ToList()))
            : Progress.Create(new ProgressModel(job, final));
    }

    private static async Task<Results<Accepted<JobView>, Ok<JobView>, ProblemHttpResult>> DecideJobAsync(
        string id, string decision, ApprovalService approvals, CancellationToken cancellationToken)
    {
        var (result, job) = await approvals.DecideJobAsync(id, decision, cancellationToken);
        return result switch
        {
            DecisionResult.Done when decision == ApprovalDecisions.Approve => TypedResults.Accepted($"/api/jobs/{id}", job!),
            DecisionResult.Done => TypedResults.Ok(job!),
            DecisionResult.NotFound or DecisionResult.LinkUsed when job is null => TypedResults.Problem(
                statusCode: StatusCodes.Status404NotFound, title: "No such job", detail: $"There is no job with id '{id}'. GET /api/jobs?state=awaiting_approval lists the waiting ones."),
            _ => TypedResults.Problem(
                statusCode: StatusCodes.Status409Conflict,
                title: "The job does not wait for approval",
                detail: job!.State == JobState.Superseded
                    ? $"Job {id} was superseded by job {job.SupersededBy} (a newer digest); decide that one instead."
                    : $"Job {id} is {job.State.Name()}; only a job in {JobState.AwaitingApproval.Name()} can be approved or rejected.",
                extensions: new Dictionary<string, object?> { ["jobId"] = job.Id, ["state"] = job.State, ["supersededBy"] = job.SupersededBy }),
        };
    }

    /// <summary>A link that cannot decide: 400 tampered or unknown, 410 expired, 409 used, superseded or no longer waiting.</summary>
    private static int RefusalStatus(LinkState state) => state.Status switch
    {
        LinkStatus.Invalid => StatusCodes.Status400BadRequest,
        LinkStatus.Expired => StatusCodes.Status410Gone,
        _ => StatusCodes.Status409Conflict,
    };

    private static RazorSlice<RefusedModel> RefusalPage(LinkState state, ApprovalLinks links, string token) =>
        PageResults.WithStatus(Refused.Create(new RefusedModel(state, ApprovedWithLink(state) ? links.Progress(token) : null)), RefusalStatus(state));

    private static ProblemHttpResult RefusalProblem(LinkState state, ApprovalLinks links, string token)
    {
        var job = state.Job;
        var detail = state.Status switch
        {
            LinkStatus.Used => $"{ApprovalWording.Decision(state)} The job is now {ApprovalWording.JobSummary(job!)}.",
            LinkStatus.Superseded =>
                $"A newer digest arrived for {job!.Container}: job {job.SupersededBy}{(state.NewerJob is null ? "" : $" ({state.NewerJob.Digest})")} replaces this one; use its link.",
            LinkStatus.Expired =>
                $"It expired at {ApprovalWording.Time(state.Approval!.ExpiresAt)}. The job still waits: POST /api/jobs/{job!.Id}/approve with the admin token decides it.",
            LinkStatus.NotWaiting => $"Job {job!.Id} is {ApprovalWording.JobSummary(job)}.",
            _ => "The link is damaged or was not issued by this service; copy the whole link from the email.",
        };
        var extensions = new Dictionary<string, object?>();
        if (job is not null)
        {
            extensions["jobId"] = job.Id;
            extensions["container"] = job.Container;
            extensions["state"] = job.State;
            extensions["outcome"] = job.Outcome;
        }

        if (state.Approval is { } approval)
        {
            extensions["decision"] = approval.Decision;
            extensions["expiresAt"] = approval.ExpiresAt;
        }

        if (state.Status == LinkStatus.Superseded)
        {
            extensions["supersededBy"] = job!.SupersededBy;
        }

        if (ApprovedWithLink(state))
        {
            extensions["progress"] = links.Progress(token);
        }

        return TypedResults.Problem(statusCode: RefusalStatus(state), title: ApprovalWording.RefusalTitle(state.Status), detail: detail, extensions: extensions);
    }

    private static bool ApprovedWithLink(LinkState state) =>
        state.Status == LinkStatus.Used && state.Approval is { Decision: ApprovalDecisions.Approved, DecidedVia: ApprovalDecisions.ViaLink };

    private static ProblemHttpResult ProblemJson(int status, string title, string detail) =>
        TypedResults.Problem(statusCode: status, title: title, detail: detail);

    private static RazorSlice<PageProblem> ProblemPage(int status, string title, string detail) => PageResults.Problem(status, title, detail);

    private static bool WantsJson(HttpRequest request) => PageResults.WantsJson(request);
}
