using Microsoft.AspNetCore.Http.HttpResults;
using WebhookUpdater.Security;

namespace WebhookUpdater.Backups;

/// <summary>Body of POST /api/backups: the containers to back up (default: every container that asks for it).</summary>
public sealed record BackupRequest(IReadOnlyList<string>? Containers);

public static class BackupsApi
{
    public static IEndpointRouteBuilder MapBackups(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/backups")
            .WithTags("Backups")
            .RequireBearerSecret<RouteGroupBuilder, AdminOptions>(options => options.Token);

        group.MapGet("", ListAsync);
        group.MapPost("", BackupAsync);
        group.MapPost("/{id}/restore", RestoreAsync);
        return routes;
    }

    private static async Task<Ok<IReadOnlyList<BackupSetView>>> ListAsync(BackupCatalog catalog, CancellationToken cancellationToken) =>
        TypedResults.Ok(await catalog.ListAsync(cancellationToken));

    private static async Task<Results<Ok<BackupRunResult>, ProblemHttpResult>> BackupAsync(
        BackupRequest? request, BackupRunner runner, BackupPlanner planner, IHostApplicationLifetime lifetime)
    {
        // The run goes on if the client hangs up: only a service shutdown stops it.
        var cancellationToken = lifetime.ApplicationStopping;
        var containers = request?.Containers?.Where(name => !string.IsNullOrWhiteSpace(name)).ToList();
        if (containers is not { Count: > 0 } && (await planner.DailyRootsAsync(cancellationToken)).Count == 0)
        {
            return TypedResults.Problem(
                statusCode: StatusCodes.Status422UnprocessableEntity,
                title: "Nothing to back up",
                detail: $"No container asks for a backup. Label them ({BackupLabels.Paths}=/data, {BackupLabels.Postgres}=true, {BackupLabels.With}=postgres) or name them: {{\"containers\": [\"gitea\"]}}.");
        }

        var result = await runner.RunAsync(BackupKinds.Manual, containers, cancellationToken);
        return result.Succeeded
            ? TypedResults.Ok(result)
            : TypedResults.Problem(
                statusCode: StatusCodes.Status502BadGateway,
                title: "Backup failed",
                detail: $"No complete set was written for {string.Join(", ", result.Failures.Select(f => $"{f.Container} ({f.Error})"))}. Fix the cause and POST again.",
                extensions: new Dictionary<string, object?> { ["failures"] = result.Failures, ["completed"] = result.Sets.Select(s => s.Id).ToList() });
    }

    private static async Task<Results<Ok<RestoreReport>, ProblemHttpResult>> RestoreAsync(
        string id, bool? dryRun, BackupRestorer restorer, IHostApplicationLifetime lifetime)
    {
        try
        {
            var report = await restorer.RestoreAsync(new RestoreRequest(id, dryRun ?? false), lifetime.ApplicationStopping);
            return report.Succeeded
                ? TypedResults.Ok(report)
                : TypedResults.Problem(
                    statusCode: StatusCodes.Status500InternalServerError,
                    title: "Restore failed",
                    detail: $"{report.Error} The steps done are listed; containers this restore stopped were started again.",
                    extensions: new Dictionary<string, object?> { ["steps"] = report.Steps });
        }
        catch (RestoreRefusedException e)
        {
            return TypedResults.Problem(
                statusCode: e.NotFound ? StatusCodes.Status404NotFound : StatusCodes.Status409Conflict,
                title: e.NotFound ? "No such backup set" : "Restore refused, nothing was changed",
                detail: e.Message);
        }
    }
}
