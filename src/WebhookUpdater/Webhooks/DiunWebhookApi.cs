using System.Buffers;
using System.Threading.RateLimiting;
using FluentValidation;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using WebhookUpdater.Configuration;
using WebhookUpdater.Pages;
using WebhookUpdater.Security;
using WebhookUpdater.Updates;

namespace WebhookUpdater.Webhooks;

public sealed record WebhookAccepted(long EventId, bool Deferred, IReadOnlyList<JobRef> Jobs);

public static class DiunWebhookApi
{
    public const string RateLimitPolicy = "diun-webhook";

    public static IServiceCollection AddDiunWebhook(this IServiceCollection services)
    {
        if (!services.FirstRegistrationOf(nameof(Webhooks)))
        {
            return services;
        }

        services.AddUpdates();
        services.AddOptions<WebhookOptions>()
            .BindConfiguration(WebhookOptions.Section)
            .Configure<IConfiguration>((options, configuration) => options.Secret = Configuration.SecretConfiguration.ReadSecret(configuration, "Webhook:Secret"))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<WebhookOptions>, WebhookOptionsValidator>();
        services.AddSingleton<IValidator<DiunEvent>, DiunEventValidator>();
        services.AddSingleton<WebhookMetrics>();
        services.AddAuthentication()
            .AddScheme<BearerSecretOptions, BearerSecretHandler>(AuthSchemes.Webhook, options =>
            {
                options.Secret = provider => provider.GetRequiredService<IOptionsMonitor<WebhookOptions>>().CurrentValue.Secret;
                options.OnRefused = context => context.RequestServices.GetRequiredService<WebhookMetrics>().Request("unauthorized");
            });
        services.AddAuthorizationBuilder()
            .AddPolicy(AuthPolicies.Webhook, policy => policy.AddAuthenticationSchemes(AuthSchemes.Webhook).RequireAuthenticatedUser());
        services.AddRateLimiter(limiter =>
        {
            limiter.AddPolicy(RateLimitPolicy, context =>
            {
                var options = context.RequestServices.GetRequiredService<IOptionsMonitor<WebhookOptions>>().CurrentValue;
                return RateLimitPartition.GetFixedWindowLimiter(
                    context.Connection.RemoteIpAddress?.ToString() ?? "unknown",
                    _ => new FixedWindowRateLimiterOptions { PermitLimit = options.PermitsPerMinute, Window = TimeSpan.FromMinutes(1) });
            });
            limiter.OnRejected = async (context, cancellationToken) =>
            {
                context.HttpContext.RequestServices.GetRequiredService<WebhookMetrics>().Request("rate_limited");
                var seconds = ClientRateLimit.RetryAfter(context);
                await PageResults.TooManyRequestsProblem("The webhook's rate limit (Webhook:PermitsPerMinute) was reached.", seconds)
                    .ExecuteAsync(context.HttpContext);
            };
        });
        return services;
    }

    public static IEndpointRouteBuilder MapDiunWebhook(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/diun")
            .WithTags("Webhook")
            .PrivateToTheNetwork()
            .RequireRateLimiting(RateLimitPolicy)
            .RequireAuthorization(AuthPolicies.Webhook)
            // One byte over its own limit, so that the handler sees an oversized body and answers 413 itself.
            .WithBodyLimit(() => routes.ServiceProvider.GetRequiredService<IOptionsMonitor<WebhookOptions>>().CurrentValue.MaxBodyBytes + 1L);

        group.MapPost("", ReceiveAsync);
        return routes;
    }

    /// <summary>
    /// Diun posts and waits briefly, and never retries: the answer comes right after the journal
    /// write, never after the update.
    /// </summary>
    private static async Task<Results<Accepted<WebhookAccepted>, ValidationProblem, ProblemHttpResult>> ReceiveAsync(
        HttpRequest request,
        IValidator<DiunEvent> validator,
        EventIntake intake,
        WebhookMetrics metrics,
        IOptionsMonitor<WebhookOptions> options,
        CancellationToken cancellationToken)
    {
        var limit = options.CurrentValue.MaxBodyBytes;
        var body = await ReadBoundedAsync(request, limit, cancellationToken);
        if (body is null)
        {
            metrics.Request("too_large");
            return TypedResults.Problem(
                statusCode: StatusCodes.Status413PayloadTooLarge,
                title: "Payload too large",
                detail: $"The body is larger than {limit} bytes (Webhook:MaxBodyBytes); a Diun event is about 1 KiB.");
        }

        var read = DiunEventReader.Read(body);
        if (read.Event is not { } diunEvent)
        {
            metrics.Request("invalid");
            return TypedResults.ValidationProblem(read.Errors, title: "The body is not a Diun event");
        }

        var validation = await validator.ValidateAsync(diunEvent, cancellationToken);
        if (!validation.IsValid)
        {
            metrics.Request("invalid");
            return TypedResults.ValidationProblem(validation.ToDictionary(), title: "The Diun event is invalid");
        }

        var result = await intake.AcceptAsync(diunEvent.ToUpdateEvent(System.Text.Encoding.UTF8.GetString(body)), cancellationToken);
        metrics.Request("accepted");
        foreach (var job in result.Jobs)
        {
            metrics.Decision(job.Decision);
        }

        var location = result.Jobs.Count > 0 ? $"/api/jobs/{result.Jobs[0].Id}" : null;
        return TypedResults.Accepted(location, new WebhookAccepted(result.EventId, result.Deferred, result.Jobs));
    }

    /// <summary>The body, whatever its Content-Type (Diun sends none unless told), or null when over the limit.</summary>
    private static async Task<byte[]?> ReadBoundedAsync(HttpRequest request, int limit, CancellationToken cancellationToken)
    {
        if (request.ContentLength > limit)
        {
            return null;
        }

        var buffer = ArrayPool<byte>.Shared.Rent(Math.Min(limit + 1, 8192));
        try
        {
            using var body = new MemoryStream();
            int count;
            while ((count = await request.Body.ReadAsync(buffer, cancellationToken)) > 0)
            {
                body.Write(buffer, 0, count);
                if (body.Length > limit)
                {
                    return null;
                }
            }

            return body.ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
