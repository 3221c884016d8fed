using Dapper;
using Microsoft.Data.Sqlite;
using WebhookUpdater.Containers;
using WebhookUpdater.Persistence;

namespace WebhookUpdater.Updates;

/// <summary>Events, jobs and their steps in the journal.</summary>
public sealed class JobStore(Database database, TimeProvider time) : IUpdateJournal
{
    public const string Resolved = "resolved";
    public const string Deferred = "deferred";

    /// <summary>
    /// Writes the event and one job per decision in one transaction. A decision whose container
    /// and digest already have an active job is answered with that job (duplicate) instead;
    /// pending jobs of the same container for another digest are superseded by the new one.
    /// </summary>
    public Task<(long EventId, IReadOnlyList<JobRef> Jobs, IReadOnlyList<string> NewQueued)> RecordEventAsync(
        EventRecord record, IReadOnlyList<UpdateDecision> decisions, CancellationToken cancellationToken) =>
        database.WriteAsync(async (connection, transaction) =>
        {
            var note = decisions.Count == 0 ? "no container runs an image of this repository" : null;
            var eventId = await InsertEventAsync(connection, transaction, record, Resolved, note);
            var (jobs, queued) = await InsertJobsAsync(connection, transaction, eventId, record, decisions);
            return (eventId, jobs, queued);
        }, cancellationToken);

    /// <summary>Keeps an event that could not be decided yet (Docker did not answer).</summary>
    public Task<long> RecordDeferredEventAsync(EventRecord record, string note, CancellationToken cancellationToken) =>
        database.WriteAsync((connection, transaction) => InsertEventAsync(connection, transaction, record, Deferred, note), cancellationToken);

    /// <summary>Decides a deferred event later: its jobs are written and the event marked resolved.</summary>
    public Task<(IReadOnlyList<JobRef> Jobs, IReadOnlyList<string> NewQueued)> ResolveDeferredEventAsync(
        long eventId, EventRecord record, IReadOnlyList<UpdateDecision> decisions, CancellationToken cancellationToken) =>
        database.WriteAsync(async (connection, transaction) =>
        {
            var changed = await connection.ExecuteAsync(
                "UPDATE events SET resolution = @Resolved, note = NULL WHERE id = @eventId AND resolution = @Deferred",
                new { eventId, Resolved, Deferred }, transaction);
            if (changed == 0)
            {
                return ((IReadOnlyList<JobRef>)[], (IReadOnlyList<string>)[]);
            }

            return await InsertJobsAsync(connection, transaction, eventId, record, decisions);
        }, cancellationToken);

    public Task<IReadOnlyList<(long Id, EventRecord Record)>> DeferredEventsAsync(CancellationToken cancellationToken) =>
        database.ReadAsync<IReadOnlyList<(long, EventRecord)>>(async connection =>
        {
            var rows = await connection.QueryAsync<EventRow>(
                "SELECT id, received_at, status, provider, image, digest, hostname, hub_link, container_id, container_names FROM events WHERE resolution = @Deferred ORDER BY id",
                new { Deferred });
            return rows.Select(row => (row.id, row.ToRecord())).ToList();
        }, cancellationToken);

    public Task<IReadOnlyList<string>> QueuedJobIdsAsync(CancellationToken cancellationToken) =>
        database.ReadAsync<IReadOnlyList<string>>(async connection =>
            (await connection.QueryAsync<string>(
                "SELECT id FROM jobs WHERE state = @queued ORDER BY created_at, id", new { queued = JobState.Queued.Name() })).ToList(),
            cancellationToken);

    public Task<JobView?> GetJobAsync(string id, CancellationToken cancellationToken) =>
        database.ReadAsync(async connection =>
        {
            var row = await connection.QuerySingleOrDefaultAsync<JobRow>($"{SelectJob} WHERE id = @id", new { id });
            if (row is null)
            {
                return null;
            }

            var steps = await connection.QueryAsync<StepRow>(
                "SELECT seq, name, state, started_at, ended_at, detail FROM job_steps WHERE job_id = @id ORDER BY seq", new { id });
            return row.ToView(steps.Select(step => step.ToStep()).ToList());
        }, cancellationToken);

    public Task<IReadOnlyList<JobView>> ListJobsAsync(JobState? of, string? container, int limit, CancellationToken cancellationToken) =>
        database.ReadAsync<IReadOnlyList<JobView>>(async connection =>
        {
            var state = of?.Name();
            var rows = await connection.QueryAsync<JobRow>(
                $"""
                {SelectJob}
                WHERE (@state IS NULL OR state = @state) AND (@container IS NULL OR container = @container)
                ORDER BY created_at DESC, id DESC LIMIT @limit
                """,
                new { state, container, limit });
            return rows.Select(row => row.ToView([])).ToList();
        }, cancellationToken);

    /// <summary>Moves a job from one of <paramref name="from"/> to <paramref name="to"/>; false when it was elsewhere.</summary>
    public Task<bool> TransitionAsync(string id, JobState from, JobState to, string? reason, CancellationToken cancellationToken) =>
        database.WriteAsync(async (connection, transaction) =>
        {
            var now = Now();
            var changed = await connection.ExecuteAsync(
                """
                UPDATE jobs SET state = @to, reason = COALESCE(@reason, reason), updated_at = @now,
                                attempts = attempts + CASE WHEN @started THEN 1 ELSE 0 END,
                                finished_at = CASE WHEN @final THEN @now ELSE finished_at END
                WHERE id = @id AND state = @from
                """,
                new { id, from = from.Name(), to = to.Name(), reason, now, started = to == JobState.Running, final = to.IsFinal() }, transaction);
            return changed == 1;
        }, cancellationToken);

    /// <summary>Counts one more run of a job (a resume after a crash); returns how many it has had.</summary>
    public Task<int> CountAttemptAsync(string id, CancellationToken cancellationToken) =>
        database.WriteAsync((connection, transaction) => connection.ExecuteScalarAsync<int>(
            "UPDATE jobs SET attempts = attempts + 1 WHERE id = @id RETURNING attempts", new { id }, transaction), cancellationToken);

    /// <summary>Ends a job with its outcome.</summary>
    public Task FinishAsync(string id, JobState state, string outcome, string reason, string? logTail, CancellationToken cancellationToken) =>
        database.WriteAsync((connection, transaction) => connection.ExecuteAsync(
            """
            UPDATE jobs SET state = @state, outcome = @outcome, reason = @reason, log_tail = COALESCE(@logTail, log_tail),
                            updated_at = @now, finished_at = @now
            WHERE id = @id
            """,
            new { id, state = state.Name(), outcome, reason, logTail, now = Now() }, transaction), cancellationToken);

    /// <summary>
    /// Journals a phase before it is acted on. What a run learned is written once: a re-run of a
    /// step after a crash never replaces the job's pre-update backup id or the new container's id.
    /// </summary>
    public Task EnterPhaseAsync(string jobId, UpdatePhase phase, PhaseFacts facts, CancellationToken cancellationToken) =>
        database.WriteAsync((connection, transaction) => connection.ExecuteAsync(
            """
            UPDATE jobs SET phase = @phase, updated_at = @now,
                            container_id = COALESCE(@containerId, container_id),
                            current_image = COALESCE(@currentImage, current_image),
                            current_image_id = COALESCE(@currentImageId, current_image_id),
                            backup_id = COALESCE(backup_id, @backupId),
                            new_image_id = COALESCE(new_image_id, @newImageId),
                            new_container_id = COALESCE(new_container_id, @newContainerId),
                            reason = COALESCE(@reason, reason),
                            log_tail = COALESCE(@logTail, log_tail),
                            outcome = COALESCE(@outcome, outcome),
                            compose_drift = COALESCE(@composeDrift, compose_drift),
                            service_version = COALESCE(service_version, @serviceVersion),
                            failed_dependent = COALESCE(failed_dependent, @failedDependent)
            WHERE id = @id
            """,
            new
            {
                id = jobId,
                phase = phase.ToText(),
                containerId = facts.ContainerId,
                currentImage = facts.CurrentImage,
                currentImageId = facts.CurrentImageId,
                backupId = facts.BackupId,
                newImageId = facts.NewImageId,
                newContainerId = facts.NewContainerId,
                reason = facts.Reason,
                logTail = facts.LogTail,
                outcome = facts.Outcome?.ToText(),
                composeDrift = facts.ComposeDrift?.ToJson(),
                serviceVersion = facts.ServiceVersion,
                failedDependent = facts.FailedDependent,
                now = Now(),
            }, transaction), cancellationToken);

    public Task<int> StartStepAsync(string jobId, string name, CancellationToken cancellationToken) =>
        database.WriteAsync(async (connection, transaction) =>
        {
            var seq = await connection.ExecuteScalarAsync<int>(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM job_steps WHERE job_id = @jobId", new { jobId }, transaction);
            await connection.ExecuteAsync(
                "INSERT INTO job_steps (job_id, seq, name, state, started_at) VALUES (@jobId, @seq, @name, @running, @now)",
                new { jobId, seq, name, running = StepState.Running.Name(), now = Now() }, transaction);
            return seq;
        }, cancellationToken);

    public Task EndStepAsync(string jobId, int seq, StepState state, string? detail, CancellationToken cancellationToken) =>
        database.WriteAsync((connection, transaction) => connection.ExecuteAsync(
            "UPDATE job_steps SET state = @state, ended_at = @now, detail = @detail WHERE job_id = @jobId AND seq = @seq",
            new { jobId, seq, state = state.Name(), detail, now = Now() }, transaction), cancellationToken);

    /// <summary>Closes the steps a crash left open.</summary>
    public Task CloseOpenStepsAsync(string jobId, string detail, CancellationToken cancellationToken) =>
        database.WriteAsync((connection, transaction) => connection.ExecuteAsync(
            "UPDATE job_steps SET state = @interrupted, ended_at = @now, detail = @detail WHERE job_id = @jobId AND state = @running",
            new { jobId, detail, interrupted = StepState.Interrupted.Name(), running = StepState.Running.Name(), now = Now() }, transaction), cancellationToken);

    public Task<IReadOnlyList<string>> JobIdsInStateAsync(JobState of, CancellationToken cancellationToken) =>
        database.ReadAsync<IReadOnlyList<string>>(async connection =>
            (await connection.QueryAsync<string>("SELECT id FROM jobs WHERE state = @state ORDER BY created_at, id", new { state = of.Name() })).ToList(),
            cancellationToken);

    /// <summary>
    /// The image each container's newest successful job replaced: what a rollback of it needs. The
    /// container <paramref name="updating"/> is left out: the job that runs for it now is its newest.
    /// </summary>
    public Task<IReadOnlyList<string>> RollbackImageIdsAsync(string updating, CancellationToken cancellationToken) =>
        database.ReadAsync<IReadOnlyList<string>>(async connection =>
            (await connection.QueryAsync<string>(
                $"""
                SELECT j.current_image_id FROM jobs j
                WHERE j.state = {SucceededState} AND j.current_image_id IS NOT NULL AND j.container <> @updating
                  AND NOT EXISTS (SELECT 1 FROM jobs k WHERE k.container = j.container AND k.state = {SucceededState}
                                  AND (k.finished_at > j.finished_at OR (k.finished_at = j.finished_at AND k.id > j.id)))
                """, new { updating })).ToList(),
            cancellationToken);

    /// <summary>When a successful (or running) update last replaced each image.</summary>
    public Task<IReadOnlyDictionary<string, DateTimeOffset>> ImagesReplacedAtAsync(CancellationToken cancellationToken) =>
        database.ReadAsync<IReadOnlyDictionary<string, DateTimeOffset>>(async connection =>
            (await connection.QueryAsync<ReplacedRow>(
                $"""
                SELECT current_image_id, MAX(COALESCE(finished_at, updated_at)) AS replaced_at FROM jobs
                WHERE state IN ({SucceededState}, '{JobState.Running.Name()}') AND current_image_id IS NOT NULL
                GROUP BY current_image_id
                """)).ToDictionary(row => row.current_image_id, row => Parse(row.replaced_at), StringComparer.Ordinal),
            cancellationToken);

    /// <summary>A job of the container that succeeded after <paramref name="job"/>, or null.</summary>
    public Task<string?> NewerSuccessAsync(JobView job, CancellationToken cancellationToken) =>
        database.ReadAsync(connection => connection.ExecuteScalarAsync<string?>(
            $"""
            SELECT id FROM jobs
            WHERE container = @Container AND state = {SucceededState} AND id <> @Id
              AND (finished_at > @finished OR (finished_at = @finished AND id > @Id))
            ORDER BY finished_at DESC LIMIT 1
            """,
            new { job.Container, job.Id, finished = job.FinishedAt is { } at ? Format(at) : "" }), cancellationToken);

    /// <summary>A queued or running job of the container, or null.</summary>
    public Task<string?> BusyWithAsync(string container, CancellationToken cancellationToken) =>
        database.ReadAsync(connection => connection.ExecuteScalarAsync<string?>(
            $"SELECT id FROM jobs WHERE container = @container AND state IN ('{JobState.Queued.Name()}', '{JobState.Running.Name()}') LIMIT 1",
            new { container }), cancellationToken);

    /// <summary>
    /// Queues the rollback of a finished update as a job of its own: from what the container runs now
    /// (<paramref name="current"/>) back to <paramref name="previousImageId"/> under the undone job's reference.
    /// </summary>
    public Task<string> InsertRollbackJobAsync(JobView undone, ContainerRef current, string previousDigest, string previousImageId, string? restoreSet, CancellationToken cancellationToken) =>
        database.WriteAsync(async (connection, transaction) =>
        {
            var id = NewJobId();
            var image = undone.CurrentImage ?? undone.Image;
            await connection.ExecuteAsync(
                """
                INSERT INTO jobs (id, event_id, container, container_id, policy, decision, state, image, digest,
                                  current_image, current_image_id, new_image_id, hub_link, reason, created_at, updated_at,
                                  rollback_of, restore_set)
                VALUES (@id, NULL, @Container, @ContainerId, @Policy, @decision, @queued, @image, @previousDigest,
                        @ConfiguredImage, @ImageId, @previousImageId, @HubLink, @reason, @now, @now, @undoneId, @restoreSet)
                """,
                new
                {
                    id, undone.Container, current.ContainerId, undone.Policy, decision = Decision.Queued.Name(), queued = JobState.Queued.Name(),
                    image, previousDigest, current.ConfiguredImage, current.ImageId, previousImageId, undone.HubLink,
                    reason = $"rollback of job {undone.Id}{(restoreSet is null ? "" : $" with its pre-update set {restoreSet}")}",
                    now = Now(), undoneId = undone.Id, restoreSet,
                },
                transaction);
            return id;
        }, cancellationToken);

    /// <summary>The latest steps of this name, newest first, with their job's container.</summary>
    public Task<IReadOnlyList<ContainerStep>> LatestStepsAsync(string name, int limit, CancellationToken cancellationToken) =>
        database.ReadAsync<IReadOnlyList<ContainerStep>>(async connection =>
            (await connection.QueryAsync<ContainerStepRow>(
                """
                SELECT j.container, s.state, s.started_at, s.ended_at, s.detail FROM job_steps s JOIN jobs j ON j.id = s.job_id
                WHERE s.name = @name ORDER BY s.started_at DESC LIMIT @limit
                """,
                new { name, limit })).Select(row => row.ToStep()).ToList(),
            cancellationToken);

    /// <summary>Proves the journal can be written to (readiness).</summary>
    public Task TouchAsync(CancellationToken cancellationToken) =>
        database.WriteAsync((connection, transaction) => connection.ExecuteAsync(
            "INSERT INTO heartbeat (id, at) VALUES (1, @at) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
            new { at = Now() }, transaction), cancellationToken);

    // The state lists are literals in the SQL: one statement text per query, no list expansion.
    private static readonly string ActiveStates = JobStates.SqlList(JobStates.Active);
    private static readonly string PendingStates = JobStates.SqlList(JobStates.Pending);
    private static readonly string SupersededState = JobStates.SqlList([JobState.Superseded]);
    private static readonly string SucceededState = JobStates.SqlList([JobState.Succeeded]);

    private static Task<long> InsertEventAsync(SqliteConnection connection, SqliteTransaction transaction, EventRecord record, string resolution, string? note) =>
        connection.ExecuteScalarAsync<long>(
            """
            INSERT INTO events (received_at, status, provider, image, digest, hostname, hub_link, container_id, container_names, payload, resolution, note)
            VALUES (@receivedAt, @Status, @Provider, @Image, @Digest, @Hostname, @HubLink, @ContainerId, @containerNames, @Received, @resolution, @note)
            RETURNING id
            """,
            new
            {
                receivedAt = Format(record.ReceivedAt), record.Event.Status, record.Event.Provider, record.Event.Image, record.Event.Digest,
                record.Event.Hostname, record.Event.HubLink, record.Event.ContainerId, containerNames = JoinNames(record.Event.ContainerNames),
                record.Event.Received, resolution, note,
            },
            transaction);

    private async Task<(IReadOnlyList<JobRef>, IReadOnlyList<string>)> InsertJobsAsync(
        SqliteConnection connection, SqliteTransaction transaction, long eventId, EventRecord record, IReadOnlyList<UpdateDecision> decisions)
    {
        var jobs = new List<JobRef>();
        var queued = new List<string>();
        var now = Now();
        foreach (var decision in decisions)
        {
            var container = decision.ContainerName;
            var wantsJob = decision.Decision is Decision.Queued or Decision.AwaitingApproval;
            if (wantsJob)
            {
                // Writes take turns, so no other event can slip a job in between this check and the insert.
                var existing = await connection.ExecuteScalarAsync<string?>(
                    $"SELECT id FROM jobs WHERE container = @container AND digest = @Digest AND image = @Image AND state IN ({ActiveStates}) ORDER BY created_at LIMIT 1",
                    new { container, record.Event.Digest, record.Event.Image }, transaction);
                if (existing is not null)
                {
                    jobs.Add(new JobRef(existing, container, decision.Policy, Decision.Duplicate));
                    continue;
                }
            }

            var id = NewJobId();
            var (state, reason) = (decision.State, decision.Reason);
            string? supersededBy = null;
            if (wantsJob && await NewerPendingAsync(connection, transaction, container, record.Event.Image) is { } newer)
            {
                // Events of one Diun run come in any order: 2.0 after 1.1 supersedes it, 1.1 after 2.0 is superseded at once.
                (state, reason, supersededBy) = (JobState.Superseded, $"superseded by job {newer.id}, which moves to the newer {newer.image}", newer.id);
            }

            await connection.ExecuteAsync(
                """
                INSERT INTO jobs (id, event_id, container, container_id, policy, decision, state, image, digest,
                                  current_image, current_image_id, hub_link, reason, superseded_by, trace_parent, created_at, updated_at,
                                  finished_at, target)
                VALUES (@id, @eventId, @container, @ContainerId, @Policy, @decisionName, @state, @Image, @Digest,
                        @CurrentImage, @CurrentImageId, @HubLink, @reason, @supersededBy, @TraceParent, @now, @now,
                        CASE WHEN @superseded THEN @now END, @target)
                """,
                new
                {
                    id, eventId, container, decision.ContainerId, decision.Policy, decisionName = decision.Decision.Name(), state = state.Name(),
                    record.Event.Image, record.Event.Digest, decision.CurrentImage, decision.CurrentImageId, record.Event.HubLink, reason,
                    supersededBy, superseded = supersededBy is not null, record.TraceParent, now,
                    target = decision.Target == UpdateTarget.Service ? TargetService : null,
                },
                transaction);

            if (wantsJob && supersededBy is null)
            {
                await connection.ExecuteAsync(
                    $"""
                    UPDATE jobs SET state = {SupersededState}, superseded_by = @id, updated_at = @now,
                                    reason = 'superseded by job ' || @id || ' for a newer digest or version'
                    WHERE container = @container AND (digest <> @Digest OR image <> @Image) AND id <> @id AND state IN ({PendingStates})
                    """,
                    new { id, now, container, record.Event.Digest, record.Event.Image }, transaction);
            }

            if (state == JobState.Queued)
            {
                queued.Add(id);
            }

            jobs.Add(new JobRef(id, container, decision.Policy, decision.Decision));
        }

        return (jobs, queued);
    }

    /// <summary>A pending job of the container for a newer version of the same repository and tag shape, if any.</summary>
    private static async Task<PendingRow?> NewerPendingAsync(SqliteConnection connection, SqliteTransaction transaction, string container, string image)
    {
        var pending = await connection.QueryAsync<PendingRow>(
            $"SELECT id, image FROM jobs WHERE container = @container AND state IN ({PendingStates}) ORDER BY created_at",
            new { container }, transaction);
        return pending.Where(job => Tracks.IsNewerTag(job.image, image)).LastOrDefault();
    }

    private const string SelectJob =
        """
        SELECT id, event_id, container, container_id, policy, decision, state, image, digest, current_image,
               hub_link, reason, superseded_by, created_at, updated_at, attempts, phase, current_image_id,
               new_image_id, new_container_id, backup_id, outcome, log_tail, finished_at, trace_parent, compose_drift,
               target, service_version,
               failed_dependent, rollback_of, restore_set
        FROM jobs
        """;

    // A container job leaves the column empty, as every job before services did.
    private const string TargetService = "service";

    private string Now() => Format(time.GetUtcNow());

    private static string Format(DateTimeOffset value) => JournalTime.Format(value);

    private static DateTimeOffset Parse(string value) => JournalTime.Parse(value);

    // Container names never hold a comma (Docker allows [a-zA-Z0-9_.-]), so they are kept as one text.
    private static string? JoinNames(IReadOnlyList<string> names) => names.Count == 0 ? null : string.Join(',', names);

    private static List<string> SplitNames(string? names) =>
        names?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(name => name.TrimStart('/')).ToList() ?? [];

    /// <summary>Time-ordered, so ids sort like the jobs were created.</summary>
    private static string NewJobId() => Guid.CreateVersion7().ToString("N");

/// <summary>A step of some job, with the job's container.</summary>
    public sealed record ContainerStep(string Container, StepState State, DateTimeOffset StartedAt, DateTimeOffset? EndedAt, string? Detail);

    /// <summary>What a container runs when a job about it is written.</summary>
    public sealed record ContainerRef(string ContainerId, string ConfiguredImage, string ImageId);

#pragma warning disable IDE1006, CA1707 // column names as SQLite has them
    internal sealed record EventRow(
        long id, string received_at, string status, string provider, string image, string digest, string? hostname,
        string? hub_link, string? container_id, string? container_names)
    {
        public EventRecord ToRecord() =>
            new(Parse(received_at), new UpdateEvent(status, provider, image, digest, hostname, hub_link, container_id, SplitNames(container_names)));
    }

    internal sealed record JobRow(
        string id, long? event_id, string container, string? container_id, string policy, string decision, string state,
        string image, string digest, string? current_image, string? hub_link, string? reason, string? superseded_by,
        string created_at, string updated_at, long attempts, string? phase, string? current_image_id, string? new_image_id,
        string? new_container_id, string? backup_id, string? outcome, string? log_tail, string? finished_at, string? trace_parent,
        string? compose_drift, string? target, long? service_version,
        string? failed_dependent, string? rollback_of, string? restore_set)
    {
        public JobView ToView(IReadOnlyList<JobStep> steps) => new(
            id, event_id, container, container_id, policy, Decisions.Parse(decision), JobStates.Parse(state), image, digest, current_image, hub_link, reason,
            superseded_by, Parse(created_at), Parse(updated_at), steps)
        {
            Attempts = (int)attempts,
            Phase = UpdateVocabulary.ParsePhase(phase),
            CurrentImageId = current_image_id,
            NewImageId = new_image_id,
            NewContainerId = new_container_id,
            BackupId = backup_id,
            Outcome = outcome,
            LogTail = log_tail,
            FinishedAt = finished_at is null ? null : Parse(finished_at),
            TraceParent = trace_parent,
            ComposeDrift = ComposeDrift.FromJson(compose_drift),
            Target = target == TargetService ? UpdateTarget.Service : UpdateTarget.Container,
            ServiceVersion = service_version,
            FailedDependent = failed_dependent,
            RollbackOf = rollback_of,
            RestoreSetId = restore_set,
        };
    }

    internal sealed record ContainerStepRow(string container, string state, string started_at, string? ended_at, string? detail)
    {
        public ContainerStep ToStep() => new(container, StepStates.Parse(state), Parse(started_at), ended_at is null ? null : Parse(ended_at), detail);
    }

    internal sealed record ReplacedRow(string current_image_id, string replaced_at);

    internal sealed record PendingRow(string id, string image);

    internal sealed record StepRow(long seq, string name, string state, string started_at, string? ended_at, string? detail)
    {
        public JobStep ToStep() => new((int)seq, name, StepStates.Parse(state), Parse(started_at), ended_at is null ? null : Parse(ended_at), detail);
    }
#pragma warning restore IDE1006, CA1707
}
