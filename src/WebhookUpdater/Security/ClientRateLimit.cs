using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;
using WebhookUpdater.Pages;

namespace WebhookUpdater.Security;

/// <summary>
/// A fixed one-minute window per client address (the real client behind the proxy). A refusal is
/// 429 with Retry-After, and an answer the caller can read: a page for a browser, problem+json
/// for an API client, both saying when to come back.
/// </summary>
public sealed class ClientRateLimit(Func<HttpContext, int> permitsPerMinute, string refusal) : IRateLimiterPolicy<string>
{
    public Func<OnRejectedContext, CancellationToken, ValueTask>? OnRejected { get; } = async (context, _) =>
    {
        var seconds = RetryAfter(context);
        await PageResults.TooManyRequests(context.HttpContext.Request, refusal, seconds).ExecuteAsync(context.HttpContext);
    };

    public RateLimitPartition<string> GetPartition(HttpContext httpContext) =>
        RateLimitPartition.GetFixedWindowLimiter(
            httpContext.Connection.RemoteIpAddress?.ToString() ?? "unknown",
            _ => new FixedWindowRateLimiterOptions { PermitLimit = permitsPerMinute(httpContext), Window = TimeSpan.FromMinutes(1) });

    /// <summary>Sets Retry-After from the refused lease and returns its seconds.</summary>
    public static int RetryAfter(OnRejectedContext context)
    {
        var seconds = RetryAfterSeconds(context.Lease);
        context.HttpContext.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        return seconds;
    }

    /// <summary>When the client's window opens again, rounded up; a minute if the limiter does not say.</summary>
    public static int RetryAfterSeconds(RateLimitLease lease) =>
        lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)) : 60;
}
