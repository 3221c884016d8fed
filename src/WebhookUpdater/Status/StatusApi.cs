using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http.HttpResults;
using WebhookUpdater.Approvals;
using WebhookUpdater.Persistence;
using WebhookUpdater.Updates;

namespace WebhookUpdater.Status;

/// <summary>
/// The operator's page at <c>/</c>: what the service did, is doing and will do, and the pending
/// approvals with their buttons. Server-rendered, no script, no external asset.
/// </summary>
public static class StatusApi
{
    private const string LoginRateLimit = "status-login";

    public static IServiceCollection AddStatusPage(this IServiceCollection services)
    {
        services.AddSingleton<StatusSession>();
        services.AddSingleton<StatusReport>();
        services.AddRateLimiter(limiter => limiter.AddPolicy(LoginRateLimit, context =>
            RateLimitPartition.GetFixedWindowLimiter(
                context.Connection.RemoteIpAddress?.ToString() ?? "unknown",
                _ => new FixedWindowRateLimiterOptions { PermitLimit = 10, Window = TimeSpan.FromMinutes(1) })));
        return services;
    }

    public static IEndpointRouteBuilder MapStatusPage(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("").WithTags("Status").ExcludeFromDescription();
        group.MapGet("/", ShowAsync);
        group.MapPost("/login", LogIn).DisableAntiforgery().RequireRateLimiting(LoginRateLimit);
        group.MapPost("/logout", LogOut).DisableAntiforgery();
        group.MapPost("/status/jobs/{id}/{decision:regex(^(approve|reject)$)}", DecideAsync).DisableAntiforgery();
        return routes;
    }

    private static async Task<ContentHttpResult> ShowAsync(HttpContext context, StatusSession session, StatusReport report, CancellationToken cancellationToken)
    {
        NoCache(context.Response);
        if (!session.IsLoggedIn(context.Request))
        {
            return TypedResults.Content(StatusPages.Login(BasePath(context), null, session.CanLogIn), "text/html; charset=utf-8");
        }

        var model = await report.BuildAsync(cancellationToken);
        var notice = context.Request.Query["notice"].ToString();
        return TypedResults.Content(StatusPages.Dashboard(BasePath(context), model, string.IsNullOrEmpty(notice) ? null : notice), "text/html; charset=utf-8");
    }

    private static Results<RedirectHttpResult, ContentHttpResult> LogIn(HttpContext context, StatusSession session, [Microsoft.AspNetCore.Mvc.FromForm] string? token)
    {
        NoCache(context.Response);
        if (session.TryLogIn(token, context.Response))
        {
            return TypedResults.Redirect(BasePath(context) + "/");
        }

        return TypedResults.Content(StatusPages.Login(BasePath(context), "That is not the admin token.", session.CanLogIn), "text/html; charset=utf-8", statusCode: StatusCodes.Status401Unauthorized);
    }

    private static RedirectHttpResult LogOut(HttpContext context)
    {
        StatusSession.LogOut(context.Response);
        return TypedResults.Redirect(BasePath(context) + "/");
    }

    private static async Task<Results<RedirectHttpResult, ContentHttpResult>> DecideAsync(
        string id, string decision, HttpContext context, StatusSession session, ApprovalService approvals, CancellationToken cancellationToken)
    {
        // The cookie is SameSite=Strict; refuse a cross-site form post outright as well.
        if (!session.IsLoggedIn(context.Request) || context.Request.Headers["Sec-Fetch-Site"] == "cross-site")
        {
            return TypedResults.Content(StatusPages.Login(BasePath(context), "Log in again to decide.", session.CanLogIn), "text/html; charset=utf-8", statusCode: StatusCodes.Status401Unauthorized);
        }

        var (result, job) = await approvals.DecideJobAsync(id, decision == "approve" ? ApprovalDecisions.Approve : ApprovalDecisions.Reject, cancellationToken);
        var notice = result switch
        {
            DecisionResult.Done => decision == "approve" ? $"Approved: {job?.Container} is being updated." : $"Rejected: {job?.Container} keeps its image.",
            DecisionResult.NotFound => $"There is no job {id}.",
            _ => $"Job {id} no longer waits for approval ({job?.State}).",
        };
        return TypedResults.Redirect($"{BasePath(context)}/?notice={Uri.EscapeDataString(notice)}");
    }

    /// <summary>The public path before the service's own (Proxy:PathBase), so links and forms stay under it.</summary>
    private static string BasePath(HttpContext context) => context.Request.PathBase.Value ?? "";

    private static void NoCache(HttpResponse response)
    {
        response.Headers.CacheControl = "no-store";
        response.Headers["X-Content-Type-Options"] = "nosniff";
        response.Headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";
        response.Headers["Referrer-Policy"] = "no-referrer";
    }
}
