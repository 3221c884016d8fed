using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using WebhookUpdater.Configuration;
using WebhookUpdater.Containers;
using WebhookUpdater.Leases;
using WebhookUpdater.Notifications;
using WebhookUpdater.Persistence;
using WebhookUpdater.Security;

namespace WebhookUpdater.Certificates;

public static class CertificatesApi
{
    public static IServiceCollection AddCertificates(this IServiceCollection services)
    {
        if (!services.FirstRegistrationOf(nameof(Certificates)))
        {
            return services;
        }

        services.AddPersistence();
        services.AddContainers();
        services.AddNotifications();
        services.AddOptions<CertificatesOptions>().BindConfiguration(CertificatesOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<CertificatesOptions>, CertificatesOptionsValidator>();
        services.AddLeases();
        services.AddSingleton<CertificateRenewal>();
        services.AddLazy<CertificateRenewal>();
        services.AddSingleton<Observability.IStatusSection, CertificatesStatus>();
        services.AddSingleton<CertificateMetrics>();
        services.AddHostedService(provider => new Observability.MeterActivation(provider.GetRequiredService<CertificateMetrics>()));
        services.AddHostedService<RenewalSchedule>();
        return services;
    }

    public static IEndpointRouteBuilder MapCertificates(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/certificates")
            .WithTags("Certificates")
            .RequireAuthorization(AuthPolicies.Admin)
            .WithBodyLimit(BodyLimits.AdminApi);

        group.MapPost("/renew", RenewAsync);
        return routes;
    }

    private static async Task<Results<Ok<RenewalReport>, ProblemHttpResult>> RenewAsync(
        CertificateRenewal renewal, IHostApplicationLifetime lifetime)
    {
        // Not the request's token: a client that hangs up must not leave a renewed certificate
        // without its nginx reload. Only the service stopping ends a run early.
        var attempt = await renewal.AttemptAsync(RenewalTriggers.Api, lifetime.ApplicationStopping);
        if (attempt.HeldBy is { } holder)
        {
            return TypedResults.Problem(
                statusCode: StatusCodes.Status409Conflict,
                title: "A container of the renewal is busy",
                detail: $"{holder.Container} is held by {holder.Describe()}: nothing was renewed. Try again when it has finished.",
                extensions: new Dictionary<string, object?> { ["heldBy"] = holder });
        }

        var report = attempt.Report;
        if (report is null)
        {
            var running = renewal.Running;
            return TypedResults.Problem(
                statusCode: StatusCodes.Status409Conflict,
                title: "A certificate renewal is already running",
                detail: running is null
                    ? "Another renewal was running a moment ago. Try again."
                    : $"A renewal started by {running.Trigger} at {running.StartedAt.ToString("u", CultureInfo.InvariantCulture)} is still running. Wait for it to finish, then try again.");
        }

        return report.Outcome switch
        {
            RenewalOutcomes.CertbotFailed => Failure(StatusCodes.Status502BadGateway, "certbot failed", report),
            RenewalOutcomes.SetupFailed => Failure(StatusCodes.Status503ServiceUnavailable, "The renewal could not run", report),
            RenewalOutcomes.Unverified => Failure(StatusCodes.Status503ServiceUnavailable, "The renewal could not be verified", report),
            _ => TypedResults.Ok(report),
        };
    }

    private static ProblemHttpResult Failure(int status, string title, RenewalReport report) =>
        TypedResults.Problem(
            statusCode: status,
            title: title,
            detail: report.Problem,
            extensions: new Dictionary<string, object?>
            {
                ["trigger"] = report.Trigger,
                ["outcome"] = report.Outcome,
                ["certbot"] = report.Certbot,
                ["certificates"] = report.Certificates,
                ["nginx"] = report.Nginx,
            });
}
