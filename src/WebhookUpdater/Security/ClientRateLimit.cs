using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;

namespace WebhookUpdater.Security;

/// <summary>
/// A fixed one-minute window per client address (the real client behind the proxy). A refusal is
/// 429 with Retry-After, and an answer the caller can read: a page for a browser, problem+json
/// for an API client.
/// </summary>
public sealed class ClientRateLimit(Func<HttpContext, int> permitsPerMinute, Func<HttpContext, int, IResult> refusal) : IRateLimiterPolicy<string>
{
    public Func<OnRejectedContext, CancellationToken, ValueTask>? OnRejected { get; } = async (context, _) =>
    {
        var seconds = RetryAfterSeconds(context.Lease);
        context.HttpContext.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        await refusal(context.HttpContext, seconds).ExecuteAsync(context.HttpContext);
    };

    public RateLimitPartition<string> GetPartition(HttpContext httpContext) =>
        RateLimitPartition.GetFixedWindowLimiter(
            httpContext.Connection.RemoteIpAddress?.ToString() ?? "unknown",
            _ => new FixedWindowRateLimiterOptions { PermitLimit = permitsPerMinute(httpContext), Window = TimeSpan.FromMinutes(1) });

    /// <summary>When the client's window opens again, rounded up; a minute if the limiter does not say.</summary>
    public static int RetryAfterSeconds(RateLimitLease lease) =>
        lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)) : 60;

    /// <summary>problem+json saying when to come back.</summary>
    public static IResult Problem(string detail, int seconds) =>
        TypedResults.Problem(
            statusCode: StatusCodes.Status429TooManyRequests,
            title: "Too many requests",
            detail: $"{detail} Try again in {seconds} s.",
            extensions: new Dictionary<string, object?> { ["retryAfterSeconds"] = seconds });
}
