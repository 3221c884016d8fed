using Microsoft.AspNetCore.Http.HttpResults;
using WebhookUpdater.Containers;
using WebhookUpdater.Leases;
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
            .RequireAuthorization(AuthPolicies.Admin)
            .WithBodyLimit(BodyLimits.AdminApi);

        group.MapGet("", ListAsync);
        group.MapPost("", BackupAsync);
        group.MapPost("/{id}/restore", RestoreAsync);
        group.MapGet("/restores", ListRestoresAsync);
        group.MapGet("/restores/{restoreId}", GetRestoreAsync);
        return routes;
    }

    /// <summary>Sets per page when ?limit= is not given, and the most one page holds.</summary>
    public const int DefaultPageSize = 100;
    public const int MaxPageSize = 1000;

    /// <summary>
    /// A page of sets, newest first. The body stays a plain array; the next page is named in a
    /// Link header (rel="next", ?limit=…&before= the last id of this page), absent on the last page.
    /// </summary>
    private static async Task<Results<Ok<IReadOnlyList<BackupSetView>>, ProblemHttpResult>> ListAsync(
        string? limit, string? before, BackupCatalog catalog, HttpResponse response, CancellationToken cancellationToken)
    {
        var size = DefaultPageSize;
        if (limit is not null && (!int.TryParse(limit, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out size) || size is < 1 or > MaxPageSize))
        {
            return BadQuery($"limit '{limit}' is not a whole number from 1 to {MaxPageSize}: use e.g. ?limit=50 (default {DefaultPageSize}).");
        }

        if (before is not null && !BackupNames.IsSafe(before))
        {
            return BadQuery($"before '{before}' is not a set id: pass the last id of the previous page, e.g. ?before=20241015-020000-daily-gitea-3f9a1c (the Link header of each page names the next one).");
        }

        var page = await catalog.PageAsync(size, before, cancellationToken);
        if (page.Next is { } next)
        {
            // Relative to this request, so it holds behind a proxy that serves the API under a base path.
            response.Headers.Link = $"<?limit={size}&before={Uri.EscapeDataString(next)}>; rel=\"next\"";
        }

        return TypedResults.Ok(page.Sets);
    }

    private static ProblemHttpResult BadQuery(string detail) =>
        TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Bad query", detail: detail);

    private static async Task<Results<Ok<BackupRunResult>, ProblemHttpResult>> BackupAsync(
        BackupRequest? request, BackupRunner runner, BackupPlanner planner, ISwarmBackups services, IHostApplicationLifetime lifetime)
    {
        // The run goes on if the client hangs up: only a service shutdown stops it.
        var cancellationToken = lifetime.ApplicationStopping;
        var containers = request?.Containers?.Where(name => !string.IsNullOrWhiteSpace(name)).ToList();
        if (containers is not { Count: > 0 } && (await planner.DailyRootsAsync(cancellationToken)).Count == 0
            && (await services.BackedUpServicesAsync(cancellationToken)).Count == 0)
        {
            return TypedResults.Problem(
                statusCode: StatusCodes.Status422UnprocessableEntity,
                title: "Nothing to back up",
                detail: $"No container asks for a backup. Label them ({BackupLabels.Paths}=/data, {BackupLabels.Postgres}=true, {BackupLabels.With}=postgres) or name them: {{\"containers\": [\"gitea\"]}}.");
        }

        var result = await runner.RunAsync(BackupKinds.Manual, containers, cancellationToken);
        if (result.Failures.Count > 0 && result.Failures.All(f => f.HeldBy is not null))
        {
            return Busy(
                "Container busy",
                $"{string.Join("; ", result.Failures.Select(f => f.Error))}. Try again when it has finished.",
                result.Failures[0].HeldBy!,
                new Dictionary<string, object?> { ["completed"] = result.Sets.Select(s => s.Id).ToList() });
        }

        return result.Succeeded
            ? TypedResults.Ok(result)
            : TypedResults.Problem(
                statusCode: StatusCodes.Status502BadGateway,
                title: "Backup failed",
                detail: $"No complete set was written for {string.Join(", ", result.Failures.Select(f => $"{f.Container} ({f.Error})"))}. Fix the cause and POST again.",
                extensions: new Dictionary<string, object?> { ["failures"] = result.Failures, ["completed"] = result.Sets.Select(s => s.Id).ToList() });
    }

    /// <summary>
    /// Runs the restore as a journaled job and answers with its report, as before; the job's id is
    /// in the Location header (GET it for its state, also after a restart). A container another
    /// operation holds: 409 at once, naming the holder, nothing changed.
    /// </summary>
    private static async Task<Results<Ok<RestoreReport>, ProblemHttpResult>> RestoreAsync(
        string id, bool? dryRun, RestoreJobs restores, HttpContext context, IHostApplicationLifetime lifetime)
    {
        try
        {
            var result = await restores.RunAsync(id, dryRun ?? false, RestoreTriggers.Api, TimeSpan.Zero, lifetime.ApplicationStopping);
            if (result.HeldBy is { } holder)
            {
                return Busy(
                    "Restore refused: a container is busy, nothing was changed",
                    $"Set {id} restores into {holder.Container}, which is held by {holder.Describe()}. Try again when it has finished.",
                    holder);
            }

            var report = result.Report!;
            if (result.RestoreId is { } restoreId)
            {
                context.Response.Headers.Location = $"/api/backups/restores/{restoreId}";
            }

            return report.Succeeded
                ? TypedResults.Ok(report)
                : TypedResults.Problem(
                    statusCode: StatusCodes.Status500InternalServerError,
                    title: "Restore failed",
                    detail: $"{report.Error} The steps done are listed; containers this restore stopped were started again.",
                    extensions: new Dictionary<string, object?> { ["steps"] = report.Steps, ["restoreId"] = result.RestoreId });
        }
        catch (RestoreRefusedException e)
        {
            return TypedResults.Problem(
                statusCode: e.NotFound ? StatusCodes.Status404NotFound : StatusCodes.Status409Conflict,
                title: e.NotFound ? "No such backup set" : "Restore refused, nothing was changed",
                detail: e.Message);
        }
        catch (Exception e) when (DockerResilience.IsOutage(e))
        {
            return TypedResults.Problem(
                statusCode: StatusCodes.Status503ServiceUnavailable,
                title: "Docker does not answer",
                detail: $"The Docker engine did not answer ({e.GetType().Name}) while set {id} was to be restored. Check the engine (docker info), then POST again; GET /api/backups/restores shows whether this restore had started.");
        }
    }

    private static async Task<Ok<IReadOnlyList<RestoreJobView>>> ListRestoresAsync(RestoreJobs restores, int? limit, CancellationToken cancellationToken) =>
        TypedResults.Ok(await restores.ListAsync(null, Math.Clamp(limit ?? 20, 1, 200), cancellationToken));

    private static async Task<Results<Ok<RestoreJobView>, ProblemHttpResult>> GetRestoreAsync(string restoreId, RestoreJobs restores, CancellationToken cancellationToken) =>
        await restores.GetAsync(restoreId, cancellationToken) is { } restore
            ? TypedResults.Ok(restore)
            : TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such restore", detail: $"No restore has the id '{restoreId}' (GET /api/backups/restores lists the latest).");

    /// <summary>409 naming who holds the container: the operation, its id, since when.</summary>
    private static ProblemHttpResult Busy(string title, string detail, LeaseHolder holder, Dictionary<string, object?>? more = null)
    {
        var extensions = more ?? [];
        extensions["heldBy"] = holder;
        return TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: title, detail: detail, extensions: extensions);
    }
}
