namespace WebhookUpdater.Persistence;

/// <summary>Schema changes, applied in order once each; PRAGMA user_version counts them.</summary>
internal static class Migrations
{
    public static IReadOnlyList<string> All { get; } =
    [
        """
        CREATE TABLE events (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            received_at TEXT NOT NULL,
            status      TEXT NOT NULL,
            provider    TEXT NOT NULL,
            image       TEXT NOT NULL,
            digest      TEXT NOT NULL,
            hostname    TEXT,
            payload     TEXT NOT NULL,
            resolution  TEXT NOT NULL,
            note        TEXT
        );
        CREATE INDEX ix_events_resolution ON events(resolution);

        CREATE TABLE jobs (
            id               TEXT PRIMARY KEY,
            event_id         INTEGER REFERENCES events(id),
            container        TEXT NOT NULL,
            container_id     TEXT,
            policy           TEXT NOT NULL,
            decision         TEXT NOT NULL,
            state            TEXT NOT NULL,
            image            TEXT NOT NULL,
            digest           TEXT NOT NULL,
            current_image    TEXT,
            current_image_id TEXT,
            hub_link         TEXT,
            reason           TEXT,
            superseded_by    TEXT,
            attempts         INTEGER NOT NULL DEFAULT 0,
            phase            TEXT,
            new_image_id     TEXT,
            new_container_id TEXT,
            backup_id        TEXT,
            outcome          TEXT,
            log_tail         TEXT,
            finished_at      TEXT,
            created_at       TEXT NOT NULL,
            updated_at       TEXT NOT NULL
        );
        CREATE INDEX ix_jobs_container_digest ON jobs(container, digest);
        CREATE INDEX ix_jobs_state ON jobs(state);
        CREATE INDEX ix_jobs_created ON jobs(created_at);

        CREATE TABLE job_steps (
            job_id     TEXT NOT NULL,
            seq        INTEGER NOT NULL,
            name       TEXT NOT NULL,
            state      TEXT NOT NULL,
            started_at TEXT NOT NULL,
            ended_at   TEXT,
            detail     TEXT,
            PRIMARY KEY (job_id, seq)
        );

        CREATE TABLE heartbeat (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT NOT NULL);
        """,
        // 2: the W3C traceparent of the webhook request that created a job, to link the job's trace to it.
        "ALTER TABLE jobs ADD COLUMN trace_parent TEXT;",
        // 3: approvals and the email outbox: a message is written here before any send, and an
        // approval row (one per emailed link) in the same transaction as its message.
        """
        CREATE TABLE outbox (
            id              TEXT PRIMARY KEY,
            dedup_key       TEXT UNIQUE,
            kind            TEXT NOT NULL,
            job_id          TEXT,
            subject         TEXT NOT NULL,
            text_body       TEXT NOT NULL,
            html_body       TEXT NOT NULL,
            state           TEXT NOT NULL,
            attempts        INTEGER NOT NULL DEFAULT 0,
            created_at      TEXT NOT NULL,
            next_attempt_at TEXT NOT NULL,
            last_attempt_at TEXT,
            sent_at         TEXT,
            sender          TEXT,
            provider_id     TEXT,
            last_error      TEXT
        );
        CREATE INDEX ix_outbox_due ON outbox(state, next_attempt_at);

        CREATE TABLE approvals (
            nonce       TEXT PRIMARY KEY,
            job_id      TEXT NOT NULL REFERENCES jobs(id),
            container   TEXT NOT NULL,
            digest      TEXT NOT NULL,
            issued_at   TEXT NOT NULL,
            expires_at  TEXT NOT NULL,
            decision    TEXT,
            decided_at  TEXT,
            decided_via TEXT
        );
        CREATE INDEX ix_approvals_job ON approvals(job_id);
        """,
        // 4: the supersede and duplicate look-ups filter by container and state; without this they read a container's whole history.
        "CREATE INDEX ix_jobs_container_state ON jobs(container, state);",
        // 5: one operation per container at a time (a row per held lease, released at start-up when
        // its process is gone), and restores as journaled jobs, finished at start-up after a crash.
        """
        CREATE TABLE leases (
            container     TEXT PRIMARY KEY,
            kind          TEXT NOT NULL,
            operation_id  TEXT NOT NULL,
            since         TEXT NOT NULL,
            process_id    INTEGER NOT NULL,
            process_start TEXT NOT NULL
        );

        CREATE TABLE restores (
            id          TEXT PRIMARY KEY,
            set_id      TEXT NOT NULL,
            trigger     TEXT NOT NULL,
            state       TEXT NOT NULL,
            containers  TEXT NOT NULL,
            was_running TEXT NOT NULL,
            attempts    INTEGER NOT NULL DEFAULT 1,
            steps       TEXT,
            error       TEXT,
            started_at  TEXT NOT NULL,
            finished_at TEXT
        );
        CREATE INDEX ix_restores_state ON restores(state);
        """,
        // 6: when each schedule last ran, so a run missed while the service was down is caught up
        // at start; and the look-up that journal retention needs (is an event still used by a job).
        """
        CREATE TABLE schedule_runs (name TEXT PRIMARY KEY, settled_at TEXT NOT NULL);
        CREATE INDEX ix_jobs_event ON jobs(event_id);
        """,
        // 7: an event keeps everything it is decided by, so a deferred one is decided later from its
        // columns; events deferred before this version get them once from the body they came in.
        """
        ALTER TABLE events ADD COLUMN hub_link TEXT;
        ALTER TABLE events ADD COLUMN container_id TEXT;
        ALTER TABLE events ADD COLUMN container_names TEXT;
        UPDATE events SET hub_link = json_extract(payload, '$.hub_link'),
                          container_id = NULLIF(TRIM(json_extract(payload, '$.metadata.ctn_id')), ''),
                          container_names = json_extract(payload, '$.metadata.ctn_names')
        WHERE resolution = 'deferred' AND json_valid(payload) AND json_type(payload) = 'object';
        """,
        // 8: containers a backup paused for its copy, so a crash mid-copy never leaves one frozen: unpaused at start.
        "CREATE TABLE paused_containers (container_id TEXT PRIMARY KEY, name TEXT NOT NULL, set_id TEXT NOT NULL, since TEXT NOT NULL);",
        // 9: after a tag move, the compose project's line that still names the old tag.
        "ALTER TABLE jobs ADD COLUMN compose_drift TEXT;",
        // 10: what an approval link approves (the current and the pulled new image, JSON), and the
        // digests' journal: which notified or outside-track job went out in which email, so a
        // caught-up run never lists a job twice.
        """
        ALTER TABLE approvals ADD COLUMN images TEXT;
        CREATE TABLE digest_entries (
            digest     TEXT NOT NULL,
            job_id     TEXT NOT NULL,
            message_id TEXT NOT NULL,
            sent_at    TEXT NOT NULL,
            PRIMARY KEY (digest, job_id)
        );
        CREATE INDEX ix_jobs_decision ON jobs(decision, created_at);
        """,
        // 11: a job's target when it is a Swarm service (NULL: a container), and the service's
        // Version.Index journaled before its update is sent, so a restart never sends it twice.
        """
        ALTER TABLE jobs ADD COLUMN target TEXT;
        ALTER TABLE jobs ADD COLUMN service_version INTEGER;
        """,
        // 12: the dependent whose failure rolled a job back (restarted again after the rollback), and
        // the rollback of a finished update: the job it undoes and the pre-update set it puts back.
        """
        ALTER TABLE jobs ADD COLUMN failed_dependent TEXT;
        ALTER TABLE jobs ADD COLUMN rollback_of TEXT;
        ALTER TABLE jobs ADD COLUMN restore_set TEXT;
        """,
    ];
}
