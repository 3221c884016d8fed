using RazorSlices;

namespace WebhookUpdater.Pages;

/// <summary>
/// What every page answer shares: its security headers, and the choice between a page for a
/// person and problem+json for a client that asks for JSON and not for HTML.
/// </summary>
public static class PageResults
{
    public const string ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

    /// <summary>
    /// No caching (the state changes), no referrer (approval tokens are in URLs and pages link to
    /// release notes), no framing, nothing loaded from anywhere, no indexing.
    /// </summary>
    public static void SecurityHeaders(HttpResponse response)
    {
        response.Headers.CacheControl = "no-store";
        response.Headers["Referrer-Policy"] = "no-referrer";
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers.XFrameOptions = "DENY";
        response.Headers["X-Robots-Tag"] = "noindex, nofollow";
        response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
    }

    public static bool WantsJson(HttpRequest request)
    {
        var accept = request.Headers.Accept.ToString();
        return accept.Contains("json", StringComparison.OrdinalIgnoreCase) && !accept.Contains("text/html", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The problem page with its status code.</summary>
    public static RazorSlice<PageProblem> Problem(int status, string title, string detail) =>
        WithStatus(Pages.Problem.Create(new PageProblem(title, detail)), status);

    /// <summary>A 429 that says when to come back: a page for a person, problem+json for a client.</summary>
    public static IResult TooManyRequests(HttpRequest request, string detail, int seconds)
    {
        SecurityHeaders(request.HttpContext.Response);
        return WantsJson(request)
            ? TooManyRequestsProblem(detail, seconds)
            : WithStatus(Pages.Problem.Create(new PageProblem("Too many requests", detail, seconds)), StatusCodes.Status429TooManyRequests);
    }

    /// <summary>A 429 as problem+json, with the seconds to wait in <c>retryAfterSeconds</c>.</summary>
    public static IResult TooManyRequestsProblem(string detail, int seconds) =>
        TypedResults.Problem(
            statusCode: StatusCodes.Status429TooManyRequests,
            title: "Too many requests",
            detail: $"{detail} Try again in {seconds} s.",
            extensions: new Dictionary<string, object?> { ["retryAfterSeconds"] = seconds });

    public static T WithStatus<T>(T page, int status) where T : RazorSlice
    {
        page.StatusCode = status;
        return page;
    }
}
