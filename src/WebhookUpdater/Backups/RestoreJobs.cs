using System.Text.Json;
using System.Text.Json.Serialization;
using Dapper;
using Microsoft.Extensions.Options;
using WebhookUpdater.Containers;
using WebhookUpdater.Leases;
using WebhookUpdater.Persistence;

namespace WebhookUpdater.Backups;

[JsonConverter(typeof(JsonStringEnumConverter<RestoreState>))]
public enum RestoreState
{
    [JsonStringEnumMemberName("running")]
    Running,

    [JsonStringEnumMemberName("succeeded")]
    Succeeded,

    [JsonStringEnumMemberName("failed")]
    Failed,

    [JsonStringEnumMemberName("refused")]
    Refused,
}

/// <summary>Who asked for a restore.</summary>
public static class RestoreTriggers
{
    public const string Api = "api";
    public const string Command = "command";
}

/// <summary>A restore as the journal has it (GET /api/backups/restores/{id}).</summary>
public sealed record RestoreJobView(
    string Id,
    string SetId,
    string Trigger,
    RestoreState State,
    IReadOnlyList<string> Containers,
    int Attempts,
    IReadOnlyList<string> Steps,
    string? Error,
    DateTimeOffset StartedAt,
    DateTimeOffset? FinishedAt);

/// <summary>What a restore call came to: the report of the run, or who held one of its containers (nothing was changed).</summary>
public sealed record RestoreJobResult(string? RestoreId, RestoreReport? Report, LeaseHolder? HeldBy);

/// <summary>
/// A restore as a journaled job under the lease of every container it touches. The row is
/// written before anything is stopped and names the containers that were running then; after a
/// crash, <see cref="ResumeAsync"/> runs the restore again from its start (finished, not undone:
/// the set is verified before anything is touched, extracting the same archive and
/// <c>pg_restore --clean --create</c> of the same dump give the same result however far the cut
/// run got, and undoing would need a copy of the data from before the restore, which nothing
/// makes). Whatever the outcome, every container that was running before runs again.
/// </summary>
public sealed partial class RestoreJobs(
    Database database,
    ContainerLeases leases,
    BackupRestorer restorer,
    IContainerLookup lookup,
    IContainerActions containers,
    TimeProvider time,
    ILogger<RestoreJobs> logger,
    ISwarmBackups? services = null)
{
    /// <summary>A restore cut short this many times is not tried again at start-up (its containers are started, the operator decides).</summary>
    public const int MaxAttempts = 3;

    /// <summary>
    /// Runs a restore. A dry run changes nothing, takes no lease and is not journaled. Throws
    /// <see cref="RestoreRefusedException"/> when the set cannot be restored (nothing changed).
    /// </summary>
    public async Task<RestoreJobResult> RunAsync(string setId, bool dryRun, string trigger, TimeSpan wait, CancellationToken cancellationToken)
    {
        if (dryRun)
        {
            var checkedSet = await restorer.VerifyAsync(setId, cancellationToken);
            return new RestoreJobResult(null, services is not null && await services.ServiceAsync(checkedSet.Manifest.Container, cancellationToken) is { } service
                ? await services.RestoreAsync(service, checkedSet, dryRun: true, cancellationToken)
                : await restorer.RestoreAsync(new RestoreRequest(setId, DryRun: true, Verified: checkedSet), cancellationToken), null);
        }

        // The set is checked before any lease, row or Docker call: a damaged or planted set is
        // refused with nothing touched, whether or not Docker answers.
        var verified = await restorer.VerifyAsync(setId, cancellationToken);
        var involved = Involved(verified.Manifest);
        var id = Guid.CreateVersion7().ToString("N");
        var attempt = await leases.AcquireAsync(involved, OperationKind.Restore, id, wait, cancellationToken);
        if (attempt.Lease is not { } lease)
        {
            return new RestoreJobResult(null, null, attempt.HeldBy);
        }

        await using (lease)
        {
            var wasRunning = new List<string>();
            foreach (var name in involved)
            {
                if (await lookup.FindAsync(name, cancellationToken) is { Running: true })
                {
                    wasRunning.Add(name);
                }
            }

            await InsertAsync(id, setId, trigger, involved, wasRunning, cancellationToken);
            LogStarted(logger, id, setId, trigger);
            var report = await RunJournaledAsync(id, setId, wasRunning, verified, cancellationToken);
            return new RestoreJobResult(id, report, null);
        }
    }

    /// <summary>Finishes every restore a crash cut short (at start-up, before anything else takes their containers).</summary>
    public async Task ResumeAllAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        foreach (var job in await ListAsync(RestoreState.Running, 100, cancellationToken))
        {
            await ResumeAsync(job, wait, cancellationToken);
        }
    }

    private async Task ResumeAsync(RestoreJobView job, TimeSpan wait, CancellationToken cancellationToken)
    {
        var wasRunning = await WasRunningAsync(job.Id, cancellationToken);
        var attempt = await leases.AcquireAsync(job.Containers, OperationKind.Restore, job.Id, wait, cancellationToken);
        if (attempt.Lease is not { } lease)
        {
            // Another process (a restore command) holds them: it is that one's to finish; look again at the next start.
            LogResumeBusy(logger, job.Id, attempt.HeldBy!.Kind, attempt.HeldBy.OperationId);
            return;
        }

        await using (lease)
        {
            var attempts = await NextAttemptAsync(job.Id, cancellationToken);
            LogResuming(logger, job.Id, job.SetId, attempts);
            if (attempts > MaxAttempts)
            {
                var steps = await StartAgainAsync(wasRunning, cancellationToken);
                await FinishAsync(job.Id, RestoreState.Failed, steps,
                    $"the restore was cut short {attempts - 1} times and is not tried again: the containers that ran before it were started; the data may be partly restored: run the restore again (POST /api/backups/{job.SetId}/restore) or restore another set",
                    cancellationToken);
                return;
            }

            await RunJournaledAsync(job.Id, job.SetId, wasRunning, verified: null, cancellationToken);
        }
    }

    private async Task<RestoreReport?> RunJournaledAsync(string id, string setId, IReadOnlyList<string> wasRunning, VerifiedSet? verified, CancellationToken cancellationToken)
    {
        RestoreReport report;
        try
        {
            verified ??= await restorer.VerifyAsync(setId, cancellationToken);
            report = services is not null && await services.ServiceAsync(verified.Manifest.Container, cancellationToken) is { } service
                ? await services.RestoreAsync(service, verified, dryRun: false, cancellationToken)
                : await restorer.RestoreAsync(new RestoreRequest(setId, Verified: verified), cancellationToken);
        }
        catch (RestoreRefusedException e)
        {
            var steps = await StartAgainAsync(wasRunning, CancellationToken.None);
            await FinishAsync(id, RestoreState.Refused, steps, e.Message, CancellationToken.None);
            throw;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            var steps = await StartAgainAsync(wasRunning, CancellationToken.None);
            await FinishAsync(id, RestoreState.Failed, steps, e.Message, CancellationToken.None);
            throw;
        }

        var restarted = await StartAgainAsync(wasRunning, CancellationToken.None);
        await FinishAsync(id, report.Succeeded ? RestoreState.Succeeded : RestoreState.Failed, [.. report.Steps, .. restarted], report.Error, CancellationToken.None);
        LogFinished(logger, id, setId, report.Succeeded, report.Error);
        return report;
    }

    /// <summary>Starts those of <paramref name="wasRunning"/> that do not run now; returns the steps taken.</summary>
    private async Task<List<string>> StartAgainAsync(IReadOnlyList<string> wasRunning, CancellationToken cancellationToken)
    {
        var steps = new List<string>();
        foreach (var name in wasRunning)
        {
            try
            {
                if (await lookup.FindAsync(name, cancellationToken) is { Running: false })
                {
                    await containers.StartAsync(name, cancellationToken);
                    steps.Add($"start {name} (it ran before the restore)");
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                steps.Add($"start {name} failed: {e.Message}");
            }
        }

        return steps;
    }

    internal static List<string> Involved(BackupManifest manifest) =>
        manifest.Objects.Select(o => o.Container ?? manifest.Container).Prepend(manifest.Container).Distinct(StringComparer.Ordinal).ToList();

    public Task<RestoreJobView?> GetAsync(string id, CancellationToken cancellationToken) =>
        database.ReadAsync(async connection =>
            (await connection.QuerySingleOrDefaultAsync<RestoreRow>($"{Select} WHERE id = @id", new { id }))?.ToView(), cancellationToken);

    public Task<IReadOnlyList<RestoreJobView>> ListAsync(RestoreState? state, int limit, CancellationToken cancellationToken)
    {
        var stateName = state is { } s ? Name(s) : null;
        return database.ReadAsync<IReadOnlyList<RestoreJobView>>(async connection =>
            (await connection.QueryAsync<RestoreRow>($"{Select} WHERE (@stateName IS NULL OR state = @stateName) ORDER BY started_at DESC, id DESC LIMIT @limit", new { stateName, limit }))
                .Select(row => row.ToView()).ToList(), cancellationToken);
    }

    private Task<int> InsertAsync(string id, string setId, string trigger, IReadOnlyList<string> involved, IReadOnlyList<string> wasRunning, CancellationToken cancellationToken)
    {
        var containersJson = JsonSerializer.Serialize(involved, RestoreJson.Default.IReadOnlyListString);
        var wasRunningJson = JsonSerializer.Serialize(wasRunning, RestoreJson.Default.IReadOnlyListString);
        var now = JournalTime.Format(time.GetUtcNow());
        var state = Name(RestoreState.Running);
        return database.WriteAsync((connection, transaction) => connection.ExecuteAsync(
            """
            INSERT INTO restores (id, set_id, trigger, state, containers, was_running, attempts, started_at)
            VALUES (@id, @setId, @trigger, @state, @containersJson, @wasRunningJson, 1, @now)
            """,
            new { id, setId, trigger, state, containersJson, wasRunningJson, now }, transaction), cancellationToken);
    }

    private Task<int> NextAttemptAsync(string id, CancellationToken cancellationToken) =>
        database.WriteAsync((connection, transaction) => connection.ExecuteScalarAsync<int>(
            "UPDATE restores SET attempts = attempts + 1 WHERE id = @id RETURNING attempts", new { id }, transaction), cancellationToken);

    private Task<IReadOnlyList<string>> WasRunningAsync(string id, CancellationToken cancellationToken) =>
        database.ReadAsync<IReadOnlyList<string>>(async connection =>
        {
            var json = await connection.QuerySingleOrDefaultAsync<string>("SELECT was_running FROM restores WHERE id = @id", new { id });
            return json is null ? [] : JsonSerializer.Deserialize(json, RestoreJson.Default.IReadOnlyListString) ?? [];
        }, cancellationToken);

    private Task<int> FinishAsync(string id, RestoreState state, IReadOnlyList<string> steps, string? error, CancellationToken cancellationToken)
    {
        var stateName = Name(state);
        var stepsJson = JsonSerializer.Serialize(steps, RestoreJson.Default.IReadOnlyListString);
        var now = JournalTime.Format(time.GetUtcNow());
        return database.WriteAsync((connection, transaction) => connection.ExecuteAsync(
            "UPDATE restores SET state = @stateName, steps = @stepsJson, error = @error, finished_at = @now WHERE id = @id",
            new { id, stateName, stepsJson, error, now }, transaction), cancellationToken);
    }

    private static string Name(RestoreState state) => state switch
    {
        RestoreState.Running => "running",
        RestoreState.Succeeded => "succeeded",
        RestoreState.Failed => "failed",
        _ => "refused",
    };

    private static RestoreState Parse(string state) => state switch
    {
        "running" => RestoreState.Running,
        "succeeded" => RestoreState.Succeeded,
        "failed" => RestoreState.Failed,
        _ => RestoreState.Refused,
    };

    private const string Select = "SELECT id, set_id AS backup_set, trigger, state, containers, attempts, steps, error, started_at, finished_at FROM restores";

    [LoggerMessage(Level = LogLevel.Information, Message = "Restore {RestoreId} of set {SetId} started ({Trigger})")]
    private static partial void LogStarted(ILogger logger, string restoreId, string setId, string trigger);

    [LoggerMessage(Level = LogLevel.Information, Message = "Restore {RestoreId} of set {SetId} finished (succeeded: {Succeeded}) {Error}")]
    private static partial void LogFinished(ILogger logger, string restoreId, string setId, bool succeeded, string? error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Restore {RestoreId} of set {SetId} was cut short: running it again from its start (attempt {Attempt})")]
    private static partial void LogResuming(ILogger logger, string restoreId, string setId, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Restore {RestoreId} was cut short, but its containers are held by {HolderKind} {HolderId}: left for the next start")]
    private static partial void LogResumeBusy(ILogger logger, string restoreId, OperationKind holderKind, string holderId);

#pragma warning disable IDE1006, CA1707 // column names as SQLite has them
    internal sealed record RestoreRow(string id, string backup_set, string trigger, string state, string containers, long attempts, string? steps, string? error, string started_at, string? finished_at)
    {
        public RestoreJobView ToView() => new(
            id,
            backup_set,
            trigger,
            Parse(state),
            JsonSerializer.Deserialize(containers, RestoreJson.Default.IReadOnlyListString) ?? [],
            (int)attempts,
            steps is null ? [] : JsonSerializer.Deserialize(steps, RestoreJson.Default.IReadOnlyListString) ?? [],
            error,
            JournalTime.Parse(started_at),
            finished_at is null ? null : JournalTime.Parse(finished_at));
    }
#pragma warning restore IDE1006, CA1707
}

[JsonSerializable(typeof(IReadOnlyList<string>))]
internal sealed partial class RestoreJson : JsonSerializerContext;

/// <summary>At start-up, finishes the restores a crash cut short (under their containers' leases, so nothing else touches them meanwhile).</summary>
internal sealed partial class RestoreRecovery(Database database, Lazy<RestoreJobs> restores, IOptions<LeaseOptions> options, IHostApplicationLifetime lifetime, ILogger<RestoreRecovery> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        // In the background: the service answers while a restore is finished.
        _ = Task.Run(ResumeAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    private async Task ResumeAsync()
    {
        try
        {
            // The journal first: with nothing to finish, the Docker client is not made at start-up.
            var running = await database.ReadAsync(connection => connection.ExecuteScalarAsync<long>(
                "SELECT COUNT(*) FROM restores WHERE state = 'running'"), lifetime.ApplicationStopping);
            if (running == 0)
            {
                return;
            }

            await restores.Value.ResumeAllAsync(options.Value.WaitTimeout, lifetime.ApplicationStopping);
        }
        catch (OperationCanceledException) when (lifetime.ApplicationStopping.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            LogFailed(logger, e);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Error, Message = "Finishing the restores cut short by a crash failed; they are tried again at the next start")]
    private static partial void LogFailed(ILogger logger, Exception error);
}
