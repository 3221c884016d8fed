using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using WebhookUpdater.Configuration;
using WebhookUpdater.Notifications.Senders;
using WebhookUpdater.Persistence;
using WebhookUpdater.Security;

namespace WebhookUpdater.Notifications;

public static class NotificationsApi
{
    /// <summary>Email through the sender <c>Email:Sender</c> names, behind a durable outbox.</summary>
    public static IServiceCollection AddNotifications(this IServiceCollection services)
    {
        if (!services.FirstRegistrationOf(nameof(Notifications)))
        {
            return services;
        }

        services.AddPersistence();
        services.AddOptions<EmailOptions>()
            .BindConfiguration(EmailOptions.Section)
            .Configure<IConfiguration>((options, configuration) => options.Smtp.Password = configuration.ReadSecret("Email:Smtp:Password"))
            .PostConfigure<IConfiguration>((options, configuration) =>
            {
                // Only SES needs a region: the AWS SDK is not loaded for the other senders.
                if (options.Sender == EmailSenderKind.Ses && string.IsNullOrWhiteSpace(options.Ses.Region))
                {
                    options.Ses.Region = AwsRegionChain.Resolve(configuration);
                }
            })
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<EmailOptions>, EmailOptionsValidator>();
        services.AddSingleton<OutboxStore>();
        services.AddSingleton(OutboxRetention.Bodies);
        services.AddSingleton(OutboxRetention.Sent);
        services.AddSingleton<OutboxSignal>();
        services.AddSingleton<EmailComposer>();
        services.TryAddSingleton<IPublicLinks, NoPublicLinks>();
        services.AddSingleton<AwsCredentialChain>();
        services.TryAddSingleton<OutboundHttp>();
        services.AddSingleton<SesEmailSender>();
        services.AddSingleton<SmtpEmailSender>();
        services.AddSingleton<EmlFolderSender>();
        services.AddSingleton<IEmailSender>(provider => provider.GetRequiredService<IOptions<EmailOptions>>().Value.Sender switch
        {
            EmailSenderKind.Ses => provider.GetRequiredService<SesEmailSender>(),
            EmailSenderKind.Smtp => provider.GetRequiredService<SmtpEmailSender>(),
            _ => provider.GetRequiredService<EmlFolderSender>(),
        });
        services.AddSingleton<INotifier, EmailNotifier>();
        services.AddSingleton<EmailMetrics>();
        services.AddSingleton<OutboxDispatcher>();
        services.AddHostedService(provider => provider.GetRequiredService<OutboxDispatcher>());
        return services;
    }

    public static IEndpointRouteBuilder MapNotifications(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/notifications")
            .WithTags("Notifications")
            .RequireAuthorization(AuthPolicies.Admin)
            .WithBodyLimit(BodyLimits.AdminApi);
        group.MapGet("/outbox", ListOutboxAsync);
        return routes;
    }

    /// <summary>What waits in the outbox, what went out and why something did not; never the bodies.</summary>
    private static async Task<Results<Ok<IReadOnlyList<OutboxEntry>>, ValidationProblem>> ListOutboxAsync(
        OutboxStore store, string? state, int? limit, CancellationToken cancellationToken)
    {
        if (limit is < 1 or > 500)
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["limit"] = ["'limit' must be between 1 and 500 (default 50)."] });
        }

        if (state is not (null or OutboxStates.Pending or OutboxStates.Sending or OutboxStates.Sent))
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["state"] = ["'state' is pending, sending or sent."] });
        }

        return TypedResults.Ok(await store.ListAsync(state, limit ?? 50, cancellationToken));
    }
}
