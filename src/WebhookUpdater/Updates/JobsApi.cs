using Microsoft.AspNetCore.Http.HttpResults;
using WebhookUpdater.Backups;
using WebhookUpdater.Configuration;
using WebhookUpdater.Containers;
using WebhookUpdater.Health;
using WebhookUpdater.Leases;
using WebhookUpdater.Notifications;
using WebhookUpdater.Persistence;
using WebhookUpdater.Security;
using WebhookUpdater.Swarm;

namespace WebhookUpdater.Updates;

public static class JobsApi
{
    public static IServiceCollection AddUpdates(this IServiceCollection services)
    {
        if (!services.FirstRegistrationOf(nameof(Updates)))
        {
            return services;
        }

        services.AddPersistence();
        services.AddContainers();
        services.AddBackups();
        services.AddHealthGate();
        services.AddNotifications();
        services.AddLeases();
        services.AddSwarm();
        services.AddOptions<UpdateOptions>().BindConfiguration(UpdateOptions.Section)
            .Validate(o => o.LogTailLines is >= 0 and <= 10_000, "Updates:LogTailLines must be between 0 and 10000 (default 50)")
            .Validate(o => o.KeepImages is >= 0 and <= 1000, "Updates:KeepImages must be between 0 and 1000 (default 2)")
            .ValidateOnStart();
        services.AddOptions<ComposeOptions>().BindConfiguration(ComposeOptions.Section)
            .Validate(o => !o.RewriteEnv || !string.IsNullOrWhiteSpace(o.EnvFile),
                "Compose:RewriteEnv is on but Compose:EnvFile is empty: mount the compose project's .env (e.g. ./.env:/compose/.env) and set Compose:EnvFile=/compose/.env")
            .ValidateOnStart();
        services.AddSingleton<ComposeEnv>();
        services.AddSingleton<Observability.IStatusSection, ComposeDriftStatus>();
        services.AddSingleton<JobStore>();
        services.AddSingleton<IUpdateJournal>(provider => provider.GetRequiredService<JobStore>());
        services.AddSingleton(JobsRetention.Jobs);
        services.AddSingleton(JobsRetention.Events);
        services.AddSingleton<UpdateQueue>();
        services.AddSingleton<AwaitingApprovalSignal>();
        services.AddSingleton<EventIntake>();
        services.AddSingleton<IUpdateBackups, UpdateBackups>();
        services.AddSingleton<DependentsCheck>();
        services.AddSingleton<ImagePruner>();
        services.AddSingleton<Observability.IStatusSection, PruneStatus>();
        services.AddSingleton<FinishedRollbacks>();
        services.AddSingleton<UpdatePipeline>();
        services.AddSingleton<UpdateTelemetry>();
        services.AddHostedService<IntakeRecovery>();
        services.AddLazy<UpdatePipeline>();
        services.AddSingleton<ServiceUpdatePipeline>();
        services.AddLazy<ServiceUpdatePipeline>();
        services.AddLazy<IUpdateBackups>();
        services.AddLazy<DependentsCheck>();
        services.AddHostedService<UpdateWorker>();
        return services;
    }

    public static IEndpointRouteBuilder MapJobs(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/jobs")
            .WithTags("Jobs")
            .RequireAuthorization(AuthPolicies.Admin)
            .WithBodyLimit(BodyLimits.AdminApi);

        group.MapGet("", ListAsync);
        group.MapGet("/{id}", GetAsync);
        group.MapPost("/{id}/rollback", RollBackAsync);
        return routes;
    }

    /// <summary>Queues the rollback of a succeeded update (with its pre-update data when <paramref name="restoreData"/>).</summary>
    private static async Task<Results<Accepted<JobRef>, ProblemHttpResult>> RollBackAsync(
        string id, bool? restoreData, FinishedRollbacks rollbacks, CancellationToken cancellationToken)
    {
        var (job, refusal) = await rollbacks.RequestAsync(id, restoreData ?? false, cancellationToken);
        return job is not null
            ? TypedResults.Accepted($"/api/jobs/{job.Id}", job)
            : TypedResults.Problem(statusCode: refusal!.Status, title: refusal.Title, detail: refusal.Detail);
    }

    private static async Task<Results<Ok<IReadOnlyList<JobView>>, ValidationProblem>> ListAsync(
        JobStore store, string? state, string? container, int? limit, CancellationToken cancellationToken)
    {
        if (limit is < 1 or > 500)
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["limit"] = ["'limit' must be between 1 and 500 (default 50)."] });
        }

        JobState? of = null;
        if (state is not null)
        {
            if (!JobStates.TryParse(state, out var parsed))
            {
                return TypedResults.ValidationProblem(new Dictionary<string, string[]>
                {
                    ["state"] = [$"'{state}' is not a job state; use one of {string.Join(", ", JobStates.AllNames)}, or leave it out for all."],
                });
            }

            of = parsed;
        }

        return TypedResults.Ok(await store.ListJobsAsync(of, container, limit ?? 50, cancellationToken));
    }

    private static async Task<Results<Ok<JobView>, ProblemHttpResult>> GetAsync(string id, JobStore store, CancellationToken cancellationToken) =>
        await store.GetJobAsync(id, cancellationToken) is { } job
            ? TypedResults.Ok(job)
            : TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such job", detail: $"There is no job with id '{id}'. GET /api/jobs lists them.");
}
