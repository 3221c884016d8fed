using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using RazorSlices;
using WebhookUpdater.Approvals;
using WebhookUpdater.Configuration;
using WebhookUpdater.Pages;
using WebhookUpdater.Security;
using WebhookUpdater.Status.Pages;
using WebhookUpdater.Updates;

namespace WebhookUpdater.Status;

/// <summary>
/// The operator's page at <c>/</c>: what the service did, is doing and will do, and the pending
/// approvals with their buttons. Rendered from the templates in Status/Pages, no script, no external asset. The admin token,
/// entered once at <c>/login</c>, becomes ASP.NET Core's cookie session; every form carries an
/// antiforgery token.
/// </summary>
public static class StatusApi
{
    private const string LoginRateLimit = "status-login";
    private const string TokenClaim = "admin-token-fingerprint";

    /// <summary>Idle time after which the session ends; an open page keeps it alive, as it refreshes itself.</summary>
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromHours(1);

    public const string CookieName = "wu_session";

    /// <summary>How often the status page reloads itself.</summary>
    public const int RefreshSeconds = 5;

    /// <summary>Login attempts per client address and minute: enough for typos, too few to guess a token.</summary>
    public const int LoginPermitsPerMinute = 10;

    public static IServiceCollection AddStatusPage(this IServiceCollection services)
    {
        if (!services.FirstRegistrationOf(nameof(Status)))
        {
            return services;
        }

        // The page shows the jobs and decides waiting ones (ApprovalService), with the admin token's session.
        services.AddApprovals();
        services.AddAdminAccess();
        services.AddSingleton<StatusReport>();
        services.AddSingleton<ManagedContainers>();
        services.AddAuthentication().AddCookie(AuthSchemes.StatusCookie, cookie =>
        {
            cookie.Cookie.Name = CookieName;
            cookie.Cookie.HttpOnly = true;
            // Strict: the page is never reached from a link on another site (emails link to the
            // approval pages, which need no cookie), so the cookie never has to travel cross-site.
            cookie.Cookie.SameSite = SameSiteMode.Strict;
            // Secure whenever the public scheme is https: the proxy's X-Forwarded-Proto makes the request https.
            cookie.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            // No Path: the handler uses the request's path base (Proxy:PathBase), so the cookie stays under it.
            cookie.ExpireTimeSpan = IdleTimeout;
            cookie.SlidingExpiration = true;
            cookie.Events.OnRedirectToLogin = context =>
            {
                if (HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method))
                {
                    context.Response.Redirect(BasePath(context.HttpContext) + "/login");
                    return Task.CompletedTask;
                }

                return TypedResults.Problem(
                        statusCode: StatusCodes.Status401Unauthorized,
                        title: "Log in first",
                        detail: "The session has ended; open the status page and log in with the admin token again.")
                    .ExecuteAsync(context.HttpContext);
            };
            // Rotating the admin token ends every session made with the old one.
            cookie.Events.OnValidatePrincipal = async context =>
            {
                var admin = context.HttpContext.RequestServices.GetRequiredService<IOptionsMonitor<AdminOptions>>().CurrentValue;
                var presented = context.Principal?.FindFirst(TokenClaim)?.Value;
                if (string.IsNullOrEmpty(admin.Token) || !SecretComparer.Matches(presented, Fingerprint(admin.Token)))
                {
                    context.RejectPrincipal();
                    await context.HttpContext.SignOutAsync(AuthSchemes.StatusCookie);
                }
            };
        });
        services.AddAuthorizationBuilder()
            .AddPolicy(AuthPolicies.StatusPage, policy => policy.AddAuthenticationSchemes(AuthSchemes.StatusCookie).RequireAuthenticatedUser());
        services.AddAntiforgery(antiforgery =>
        {
            antiforgery.Cookie.Name = "wu_antiforgery";
            antiforgery.Cookie.SameSite = SameSiteMode.Strict;
            antiforgery.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            // The pages say DENY themselves; the antiforgery default (SAMEORIGIN) would be weaker.
            antiforgery.SuppressXFrameOptionsHeader = true;
        });
        services.AddRateLimiter(limiter => limiter.AddPolicy(LoginRateLimit, new ClientRateLimit(
            _ => LoginPermitsPerMinute,
            "Too many login attempts from this address.")));
        return services;
    }

    public static IEndpointRouteBuilder MapStatusPage(this IEndpointRouteBuilder routes)
    {
        var pages = routes.MapGroup("")
            .WithTags("Status")
            .ExcludeFromDescription()
            .WithBodyLimit(BodyLimits.Form)
            .AddEndpointFilter(RefuseStaleForms);
        pages.MapGet("/login", ShowLogin);
        pages.MapPost("/login", LogInAsync).WithMetadata(new RequireAntiforgeryTokenAttribute()).RequireRateLimiting(LoginRateLimit);

        var session = pages.MapGroup("").RequireAuthorization(AuthPolicies.StatusPage);
        session.MapGet("/", ShowAsync);
        session.MapGet("/jobs/{id}", ShowJobAsync);
        session.MapPost("/logout", (Delegate)LogOutAsync).WithMetadata(new RequireAntiforgeryTokenAttribute());
        session.MapPost("/status/jobs/{id}/{decision:regex(^(approve|reject)$)}", DecideAsync).WithMetadata(new RequireAntiforgeryTokenAttribute());
        session.MapGet("/status/jobs/{id}/rollback", ConfirmRollbackAsync);
        session.MapPost("/status/jobs/{id}/rollback", RollBackAsync).WithMetadata(new RequireAntiforgeryTokenAttribute());
        return routes;
    }

    /// <summary>
    /// The antiforgery middleware only records a failed check; a form posted without its token
    /// (another site, or a page from before a restart) is refused here, before the handler runs.
    /// </summary>
    private static async ValueTask<object?> RefuseStaleForms(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        PageResults.SecurityHeaders(http.Response);
        if (http.Features.Get<IAntiforgeryValidationFeature>() is { IsValid: false })
        {
            return LoginPage(http, "The form was too old or did not come from this page: log in again.", StatusCodes.Status400BadRequest);
        }

        return await next(context);
    }

    private static RazorSlice<LoginModel> ShowLogin(HttpContext context) => LoginPage(context, null, StatusCodes.Status200OK);

    private static RazorSlice<LoginModel> LoginPage(HttpContext context, string? error, int status) =>
        PageResults.WithStatus(Login.Create(new LoginModel(BasePath(context), error, CanLogIn(context), Antiforgery(context))), status);

    private static async Task<Results<RedirectHttpResult, RazorSlice>> LogInAsync(HttpContext context, IOptionsMonitor<AdminOptions> admin, CancellationToken cancellationToken)
    {
        // The antiforgery check has read the form already: this reads it from memory.
        var form = await context.Request.ReadFormAsync(cancellationToken);
        var token = admin.CurrentValue.Token;
        if (!SecretComparer.Matches(form["token"].ToString(), token))
        {
            return LoginPage(context, "That is not the admin token.", StatusCodes.Status401Unauthorized);
        }

        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, "operator"), new Claim(TokenClaim, Fingerprint(token!))], AuthSchemes.StatusCookie);
        await context.SignInAsync(AuthSchemes.StatusCookie, new ClaimsPrincipal(identity));
        return TypedResults.Redirect(BasePath(context) + "/");
    }

    private static async Task<RazorSlice> ShowAsync(HttpContext context, StatusReport report, CancellationToken cancellationToken)
    {
        var model = await report.BuildAsync(cancellationToken);
        var notice = context.Request.Query["notice"].ToString();
        return Dashboard.Create(new DashboardModel(BasePath(context), model, string.IsNullOrEmpty(notice) ? null : notice, Antiforgery(context)));
    }

    private static async Task<RazorSlice> ShowJobAsync(string id, HttpContext context, StatusReport report, CancellationToken cancellationToken) =>
        await report.JobAsync(id, cancellationToken) is { } job
            ? JobPage.Create(new JobPageModel(BasePath(context), job))
            : PageResults.Problem(StatusCodes.Status404NotFound, "No such job", $"There is no job {id}: it may have been removed by the journal's retention.");

    private static async Task<RedirectHttpResult> LogOutAsync(HttpContext context)
    {
        await context.SignOutAsync(AuthSchemes.StatusCookie);
        return TypedResults.Redirect(BasePath(context) + "/login");
    }

    private static async Task<RedirectHttpResult> DecideAsync(string id, string decision, HttpContext context, ApprovalService approvals, CancellationToken cancellationToken)
    {
        var (result, job) = await approvals.DecideJobAsync(id, decision == "approve" ? ApprovalDecisions.Approve : ApprovalDecisions.Reject, cancellationToken);
        var notice = result switch
        {
            DecisionResult.Done => decision == "approve" ? $"Approved: {job?.Container} is being updated." : $"Rejected: {job?.Container} keeps its image.",
            DecisionResult.NotFound => $"There is no job {id}.",
            _ => $"Job {id} no longer waits for approval ({job?.State}).",
        };
        return TypedResults.Redirect($"{BasePath(context)}/?notice={Uri.EscapeDataString(notice)}");
    }

    /// <summary>Says what the rollback of a finished update would do (and with its data, what it overwrites); changes nothing.</summary>
    private static async Task<RazorSlice<RollbackConfirmModel>> ConfirmRollbackAsync(string id, bool? restoreData, HttpContext context, FinishedRollbacks rollbacks, CancellationToken cancellationToken)
    {
        var (plan, refusal) = await rollbacks.PlanAsync(id, restoreData ?? false, cancellationToken);
        var page = RollbackConfirm.Create(new RollbackConfirmModel(BasePath(context), plan, refusal, restoreData ?? false, Antiforgery(context)));
        return PageResults.WithStatus(page, refusal?.Status ?? StatusCodes.Status200OK);
    }

    private static async Task<RedirectHttpResult> RollBackAsync(string id, HttpContext context, FinishedRollbacks rollbacks, CancellationToken cancellationToken)
    {
        // The antiforgery check has read the form already: this reads it from memory.
        var form = await context.Request.ReadFormAsync(cancellationToken);
        var withData = form["restoreData"].ToString() == "true";
        var (job, refusal) = await rollbacks.RequestAsync(id, withData, cancellationToken);
        var notice = job is not null
            ? $"Rolling back {job.Container}{(withData ? " and its data" : "")}: job {job.Id}."
            : $"Not rolled back: {refusal!.Title}. {refusal.Detail}";
        return TypedResults.Redirect($"{BasePath(context)}/?notice={Uri.EscapeDataString(notice)}");
    }

    private static bool CanLogIn(HttpContext context) =>
        !string.IsNullOrEmpty(context.RequestServices.GetRequiredService<IOptionsMonitor<AdminOptions>>().CurrentValue.Token);

    private static AntiforgeryTokenSet Antiforgery(HttpContext context) =>
        context.RequestServices.GetRequiredService<IAntiforgery>().GetAndStoreTokens(context);

    /// <summary>What the cookie keeps of the admin token: a keyed hash, never the token.</summary>
    private static string Fingerprint(string token) =>
        Convert.ToBase64String(HMACSHA256.HashData(Encoding.UTF8.GetBytes(token), "status-session"u8));

    /// <summary>The public path before the service's own (Proxy:PathBase), so links and forms stay under it.</summary>
    private static string BasePath(HttpContext context) => context.Request.PathBase.Value ?? "";
}
