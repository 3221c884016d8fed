using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using WebhookUpdater.Backups;
using WebhookUpdater.Containers;
using WebhookUpdater.Persistence;
using WebhookUpdater.Tests.Support;
using WebhookUpdater.Updates;

namespace WebhookUpdater.Tests.Updates;

/// <summary>Every branch of run, resume and rollback, over the in-memory engine and the real journal.</summary>
public sealed class UpdatePipelineTests : IAsyncLifetime
{
    private const string Repository = "registry.test/forge/app";
    private const string Image = Repository + ":stable";
    private const string Name = "forge";

    private readonly TestApp _app;
    private readonly FakeBackups _backups = new();
    private UpdatePhase? _crashAfter;
    private UpdatePhase? _crashBefore;

    public UpdatePipelineTests()
    {
        _app = new TestApp(new()
        {
            ["HealthGate:StableFor"] = "00:00:00",
            ["HealthGate:PollInterval"] = "00:00:00.010",
            ["HealthGate:Timeout"] = "00:00:05",
        })
        {
            ConfigureServices = services =>
            {
                services.RemoveAll<IContainerActions>();
                services.AddSingleton<IContainerActions>(_ => _app!.Containers);
                services.RemoveAll<IUpdateBackups>();
                services.AddSingleton<IUpdateBackups>(_backups);
                services.RemoveAll<IUpdateJournal>();
                services.AddSingleton<IUpdateJournal>(provider => new CrashingJournal(provider.GetRequiredService<JobStore>(), this));
            },
        };
    }

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private FakeContainerRuntime Engine => _app.Containers;

    private JobStore Store => _app.Services.GetRequiredService<JobStore>();

    private UpdatePipeline Pipeline => _app.Services.GetRequiredService<UpdatePipeline>();

    public static TheoryData<UpdatePhase> UpdatePhases =>
    [
        UpdatePhase.BackingUp, UpdatePhase.Pulling, UpdatePhase.Creating, UpdatePhase.Renaming, UpdatePhase.Stopping,
        UpdatePhase.Starting, UpdatePhase.Gating, UpdatePhase.CheckingDependents, UpdatePhase.GatePassed, UpdatePhase.Finishing,
    ];

    public static TheoryData<UpdatePhase> RollbackPhases =>
    [
        UpdatePhase.Starting, UpdatePhase.Gating, UpdatePhase.RollingBack, UpdatePhase.RemovingNew, UpdatePhase.RenamingBack,
        UpdatePhase.RestoringData, UpdatePhase.StartingOld, UpdatePhase.RollbackGating, UpdatePhase.Finishing,
    ];

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task A_healthy_update_creates_the_new_container_before_the_old_one_stops()
    {
        var old = Engine.Add(Name, Image, "automatic");
        Engine.Publish(Repository, Payloads.DigestB);

        var job = await RunAsync();

        Assert.Equal(JobState.Succeeded, job.State);
        Assert.Equal(JobOutcome.Updated.ToText(), job.Outcome);
        Assert.Equal(
            [$"create {Name}.new", $"rename {Name} {Name}.old", $"rename {Name}.new {Name}", $"stop {Name}.old", $"start {Name} {job.NewContainerId}", $"remove {Name}.old"],
            Engine.Operations);
        Assert.Equal(["check", "backup", "pull", "create", "recreate", "health-gate", "cleanup", "prune"], job.Steps.Select(s => s.Name));
        Assert.Equal("running", Engine.Named(Name)!.Status);
        Assert.NotEqual(old.Id, Engine.Named(Name)!.Id);
        Assert.Equal("set-1", job.BackupId);
        Assert.Equal(0, await NoticesAsync(job.Id));
    }

    [Fact]
    public async Task A_new_version_that_exits_is_rolled_back_and_the_operator_gets_one_notice()
    {
        var old = Engine.Add(Name, Image, "automatic");
        Engine.PublishExiting(Repository, Payloads.DigestB);

        var job = await RunAsync();

        Assert.Equal(JobState.RolledBack, job.State);
        Assert.Equal(JobOutcome.RolledBackHealthy.ToText(), job.Outcome);
        Assert.StartsWith("the new container failed its health gate: container exited", job.Reason, StringComparison.Ordinal);
        Assert.Contains("configuration error", job.LogTail, StringComparison.Ordinal);
        Assert.Equal(old.Id, Engine.Named(Name)!.Id);
        Assert.Equal("running", Engine.Named(Name)!.Status);
        Assert.Null(Engine.Named(Name + ".old"));
        Assert.Equal(1, Engine.Starts(job.NewContainerId!));
        Assert.Equal(1, await NoticesAsync(job.Id));
        Assert.Empty(_backups.Restores);
    }

    [Fact]
    public async Task A_failed_backup_changes_nothing_and_the_operator_is_told()
    {
        Engine.Add(Name, Image, "automatic");
        Engine.Publish(Repository, Payloads.DigestB);
        _backups.Failure = "s3 answered 503";

        var job = await RunAsync();

        Assert.Equal(JobState.Failed, job.State);
        Assert.Equal("backup failed, nothing was changed: s3 answered 503", job.Reason);
        Assert.Empty(Engine.Operations);
        Assert.Equal(1, await NoticesAsync(job.Id));
    }

    [Fact]
    public async Task A_failed_pull_leaves_the_running_container_alone()
    {
        Engine.Add(Name, Image, "automatic");

        var job = await RunAsync();

        Assert.Equal(JobState.Failed, job.State);
        Assert.StartsWith("pull failed, the running container was not touched", job.Reason, StringComparison.Ordinal);
        Assert.Empty(Engine.Operations);
    }

    [Fact]
    public async Task A_tag_that_moved_on_since_the_event_stops_the_update_before_any_change()
    {
        Engine.Add(Name, Image, "automatic");
        Engine.Publish(Repository, Payloads.DigestA);

        var job = await RunAsync();

        Assert.Equal(JobState.Failed, job.State);
        Assert.Contains("the registry moved on", job.Reason, StringComparison.Ordinal);
        Assert.Empty(Engine.Operations);
    }

    [Fact]
    public async Task A_new_container_that_cannot_be_created_leaves_the_old_one_running_untouched()
    {
        var old = Engine.Add(Name, Image, "automatic");
        Engine.Publish(Repository, Payloads.DigestB);
        Engine.Failures["create"] = "invalid mount config";

        var job = await RunAsync();

        Assert.Equal(JobState.Failed, job.State);
        Assert.Equal(JobOutcome.NothingChanged.ToText(), job.Outcome);
        Assert.Contains("invalid mount config", job.Reason, StringComparison.Ordinal);
        Assert.Equal(old.Id, Engine.Named(Name)!.Id);
        Assert.Equal("running", Engine.Named(Name)!.Status);
        Assert.Empty(Engine.Operations);
    }

    [Fact]
    public async Task A_new_container_that_cannot_start_is_removed_and_the_old_one_started_again()
    {
        var old = Engine.Add(Name, Image, "automatic");
        Engine.Publish(Repository, Payloads.DigestB);
        Engine.Failures["start"] = "port is already allocated";

        var job = await RunUntilAsync(() => Engine.Failures.Remove("start"), UpdatePhase.RollingBack);

        Assert.Equal(JobState.RolledBack, job.State);
        Assert.StartsWith("recreate failed: port is already allocated", job.Reason, StringComparison.Ordinal);
        Assert.Equal(old.Id, Engine.Named(Name)!.Id);
        Assert.Equal("running", Engine.Named(Name)!.Status);
        Assert.Equal(0, Engine.Starts(job.NewContainerId!));
    }

    [Fact]
    public async Task A_rollback_that_cannot_rename_the_old_container_back_ends_as_action_required()
    {
        Engine.Add(Name, Image, "automatic");
        Engine.PublishExiting(Repository, Payloads.DigestB);

        var job = await RunUntilAsync(() => Engine.Failures["rename"] = "the engine refused the rename", UpdatePhase.RollingBack);

        Assert.Equal(JobState.Failed, job.State);
        Assert.Equal(JobOutcome.RollbackFailed.ToText(), job.Outcome);
        Assert.Contains("then the rollback failed: the engine refused the rename", job.Reason, StringComparison.Ordinal);
        Assert.Equal(1, await NoticesAsync(job.Id));
    }

    [Theory]
    [InlineData("removed", "was removed since the event")]
    [InlineData("old-name-taken", "a container named forge.old already exists")]
    [InlineData("new-name-taken", "a container named forge.new already exists")]
    public async Task A_container_that_is_not_what_the_event_was_about_cancels_the_job_without_a_notice(string situation, string reason)
    {
        Engine.Add(Name, Image, "automatic");
        Engine.Publish(Repository, Payloads.DigestB);
        var queued = await QueueAsync();
        switch (situation)
        {
            case "removed":
                Engine.Remove(Name);
                break;
            case "old-name-taken":
                Engine.Add(Name + ".old", Image);
                break;
            default:
                Engine.Add(Name + ".new", Image);
                break;
        }

        await Pipeline.RunAsync(queued, Cancel);
        var job = (await Store.GetJobAsync(queued.Id, Cancel))!;

        Assert.Equal(JobState.Cancelled, job.State);
        Assert.Contains(reason, job.Reason, StringComparison.Ordinal);
        Assert.Empty(Engine.Operations);
        Assert.Equal(0, await NoticesAsync(job.Id));
    }

    [Theory]
    [MemberData(nameof(UpdatePhases))]
    public async Task An_update_interrupted_after_any_phase_is_finished_at_the_next_start(UpdatePhase phase)
    {
        var old = Engine.Add(Name, Image, "automatic");
        Engine.Publish(Repository, Payloads.DigestB);

        var job = await CrashAndResumeAsync(phase);

        Assert.True(job.State == JobState.Succeeded, $"{job.State}: {job.Reason}");
        Assert.Equal(1, Engine.Starts(job.NewContainerId!));
        Assert.Equal(0, Engine.Starts(old.Id));
        Assert.Equal(job.NewContainerId, Engine.Named(Name)!.Id);
        Assert.Equal("running", Engine.Named(Name)!.Status);
        Assert.Null(Engine.Named(Name + ".old"));
        Assert.Null(Engine.Named(Name + ".new"));
        Assert.Equal(["set-1"], _backups.Taken);
        Assert.Equal("set-1", job.BackupId);
    }

    [Theory]
    [MemberData(nameof(RollbackPhases))]
    public async Task A_rollback_interrupted_after_any_phase_is_finished_as_a_rollback_at_the_next_start(UpdatePhase phase)
    {
        var old = Engine.Add(Name, Image, "automatic", moreLabels: new Dictionary<string, string> { [BackupLabels.RestoreOnRollback] = "true" });
        Engine.PublishExiting(Repository, Payloads.DigestB);

        var job = await CrashAndResumeAsync(phase);

        Assert.True(job.State == JobState.RolledBack, $"{job.State}: {job.Reason}");
        Assert.StartsWith("the new container failed its health gate", job.Reason, StringComparison.Ordinal);
        Assert.Equal(1, Engine.Starts(job.NewContainerId!));
        Assert.Equal(old.Id, Engine.Named(Name)!.Id);
        Assert.Equal("running", Engine.Named(Name)!.Status);
        Assert.Null(Engine.Named(Name + ".old"));
        Assert.Null(Engine.Named(Name + ".new"));
        Assert.Equal(["set-1"], _backups.Taken);
        Assert.Equal("set-1", job.BackupId);
        Assert.NotEmpty(_backups.Restores);
        Assert.All(_backups.Restores, restored => Assert.Equal("set-1", restored));
        Assert.Equal(1, await NoticesAsync(job.Id));
        Assert.Contains("configuration error", job.LogTail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_restore_that_fails_during_the_rollback_starts_the_old_container_and_asks_for_action()
    {
        var old = Engine.Add(Name, Image, "automatic", moreLabels: new Dictionary<string, string> { [BackupLabels.RestoreOnRollback] = "true" });
        Engine.PublishExiting(Repository, Payloads.DigestB);
        _backups.RestoreFailure = "the set's checksum does not match";

        var job = await CrashAndResumeAsync(UpdatePhase.StartingOld);

        Assert.Equal(JobState.Failed, job.State);
        Assert.Equal(JobOutcome.RollbackFailed.ToText(), job.Outcome);
        Assert.Contains("its pre-update data could not be restored: the set's checksum does not match", job.Reason, StringComparison.Ordinal);
        Assert.Equal("running", Engine.Named(Name)!.Status);
        Assert.Equal(old.Id, Engine.Named(Name)!.Id);
        Assert.Equal(1, await NoticesAsync(job.Id));
    }

    [Fact]
    public async Task A_new_container_that_ran_before_the_crash_is_judged_by_the_gate_and_never_started_again()
    {
        // The start went through, the service died before it could journal the gate.
        var old = Engine.Add(Name, Image, "automatic");
        Engine.PublishExiting(Repository, Payloads.DigestB);
        var queued = await QueueAsync();
        _crashBefore = UpdatePhase.Gating;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Pipeline.RunAsync(queued, Cancel));
        var interrupted = (await Store.GetJobAsync(queued.Id, Cancel))!;
        Assert.Equal(UpdatePhase.Starting, interrupted.Phase);

        await Pipeline.ResumeAsync(interrupted, Cancel);
        var job = (await Store.GetJobAsync(queued.Id, Cancel))!;

        Assert.Equal(JobState.RolledBack, job.State);
        Assert.Equal(1, Engine.Starts(job.NewContainerId!));
        Assert.Equal(old.Id, Engine.Named(Name)!.Id);
        Assert.Equal("running", Engine.Named(Name)!.Status);
    }

    [Fact]
    public async Task A_job_without_a_phase_and_a_renamed_old_container_is_rolled_back_at_the_next_start()
    {
        // What an older version leaves behind: the original renamed and stopped, no phase this version knows.
        var old = Engine.Add(Name + ".old", Image, "automatic");
        await Engine.StopAsync(old.Id, Cancel);
        var queued = await QueueAsync(containerId: old.Id);

        await Pipeline.ResumeAsync(queued, Cancel);
        var job = (await Store.GetJobAsync(queued.Id, Cancel))!;

        Assert.Equal(JobState.RolledBack, job.State);
        Assert.Equal(old.Id, Engine.Named(Name)!.Id);
        Assert.Equal("running", Engine.Named(Name)!.Status);
    }

    private static readonly Dictionary<string, string> MajorTrack = new() { [Tracks.Label] = "major" };

    /// <summary>A tag move to <paramref name="image"/>, decided when the container ran <paramref name="decidedOn"/> (image id of a 1.0).</summary>
    private async Task<JobView> RunMoveAsync(string image, string decidedOn)
    {
        var container = Engine.Named(Name)!;
        var record = new EventRecord(DateTimeOffset.UtcNow, new UpdateEvent("new", "docker", image, Payloads.DigestB, "myserver", null, null, [Name]));
        var decision = new UpdateDecision(Name, container.Id, Policies.Automatic, Decision.Queued, JobState.Queued, decidedOn, "sha256:" + new string('1', 64), "automatic update");
        var (_, jobs, _) = await Store.RecordEventAsync(record, [decision], Cancel);
        Assert.True(await Store.TransitionAsync(jobs[0].Id, JobState.Queued, JobState.Running, null, Cancel));
        await Pipeline.RunAsync((await Store.GetJobAsync(jobs[0].Id, Cancel))!, Cancel);
        return (await Store.GetJobAsync(jobs[0].Id, Cancel))!;
    }

    [Fact]
    public async Task A_tag_move_configures_the_new_container_with_the_new_tag_and_journals_both_ends()
    {
        var old = Engine.Add(Name, Repository + ":1.0", "automatic", moreLabels: MajorTrack);
        Engine.Publish(Repository, Payloads.DigestB);

        var job = await RunMoveAsync(Repository + ":2.0", Repository + ":1.0");

        Assert.Equal(JobState.Succeeded, job.State);
        Assert.Equal(Repository + ":2.0", Engine.Named(Name)!.ConfiguredImage);
        Assert.Equal(Repository + ":2.0", job.Image);
        Assert.Equal(Repository + ":1.0", job.CurrentImage);
        Assert.Equal(old.ImageId, job.CurrentImageId);
    }

    [Fact]
    public async Task A_tag_move_goes_on_from_where_the_container_moved_when_the_track_still_allows_it()
    {
        Engine.Add(Name, Repository + ":1.1", "automatic", moreLabels: MajorTrack);
        Engine.Publish(Repository, Payloads.DigestB);

        var job = await RunMoveAsync(Repository + ":2.0", Repository + ":1.0");

        Assert.Equal(JobState.Succeeded, job.State);
        Assert.Equal(Repository + ":2.0", Engine.Named(Name)!.ConfiguredImage);
        Assert.Equal(Repository + ":1.1", job.CurrentImage);
        Assert.Contains("still within its track", job.Steps[0].Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_tag_move_is_cancelled_when_the_container_moved_past_it()
    {
        var now = Engine.Add(Name, Repository + ":3.0", "automatic", moreLabels: MajorTrack);
        Engine.Publish(Repository, Payloads.DigestB);

        var job = await RunMoveAsync(Repository + ":2.0", Repository + ":1.0");

        Assert.Equal(JobState.Cancelled, job.State);
        Assert.Contains("changed since the event", job.Reason, StringComparison.Ordinal);
        Assert.Equal(now.Id, Engine.Named(Name)!.Id);
        Assert.Empty(Engine.Operations);
    }

    [Fact]
    public async Task A_finished_update_is_rolled_back_as_a_new_job_to_its_previous_image_and_data()
    {
        var (update, previousId) = await UpdateKeepingThePreviousImageAsync();
        Assert.Equal(JobState.Succeeded, update.State);

        var rollback = await RollBackAsync(update.Id, restoreData: true);

        Assert.Equal(JobState.Succeeded, rollback.State);
        Assert.Equal(update.Id, rollback.RollbackOf);
        Assert.Equal(previousId, Engine.Named(Name)!.ImageId);
        Assert.Contains($"tag {previousId} {Repository}:stable", Engine.Operations);
        Assert.Equal([update.BackupId!], _backups.Restores);
        Assert.Equal(["check", "backup", "retag", "create", "recreate", "health-gate", "restore-data", "restore-health-gate", "cleanup", "prune"], rollback.Steps.Select(s => s.Name));
        Assert.NotEqual(update.BackupId, rollback.BackupId);

        // The rollback is now the newest success: the update cannot be rolled back twice.
        var again = await _app.Admin().PostAsync($"/api/jobs/{update.Id}/rollback", null, Cancel);
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Contains(rollback.Id, (await again.Content.ReadFromJsonAsync<JsonElement>(Cancel)).GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_rollback_is_refused_for_an_unknown_job_a_pruned_image_and_a_job_that_changed_nothing()
    {
        var admin = _app.Admin();
        Assert.Equal(HttpStatusCode.NotFound, (await admin.PostAsync("/api/jobs/nope/rollback", null, Cancel)).StatusCode);

        Engine.Add(Name, Image, "automatic");
        Engine.Publish(Repository, Payloads.DigestB);
        var update = await RunAsync();
        Assert.Equal(JobState.Succeeded, update.State);
        // The previous image is no longer on the host (no container or image list has it).
        var gone = await admin.PostAsync($"/api/jobs/{update.Id}/rollback", null, Cancel);
        Assert.Equal(HttpStatusCode.Gone, gone.StatusCode);

        // The same digest again: the job ends without a change, so there is nothing to undo.
        var cancelled = await RunAsync();
        Assert.Equal(JobState.Cancelled, cancelled.State);
        var notSucceeded = await admin.PostAsync($"/api/jobs/{cancelled.Id}/rollback", null, Cancel);
        Assert.Equal(HttpStatusCode.Conflict, notSucceeded.StatusCode);
        Assert.Equal("application/problem+json", notSucceeded.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task The_status_page_rolls_a_succeeded_update_back_after_a_confirmation_that_names_what_is_overwritten()
    {
        var (update, previousId) = await UpdateKeepingThePreviousImageAsync();
        var browser = _app.Browser();
        await browser.LogInAsync(TestApp.AdminToken);

        var dashboard = await browser.GetStringAsync("/", Cancel);
        var confirm = await browser.GetAsync($"/status/jobs/{update.Id}/rollback?restoreData=true", Cancel);
        var page = await confirm.Content.ReadAsStringAsync(Cancel);
        var unknown = await browser.GetAsync("/status/jobs/nope/rollback", Cancel);
        Assert.Empty((await Store.ListJobsAsync(JobState.Queued, Name, 10, Cancel)));
        var pressed = await browser.PostAsync($"/status/jobs/{update.Id}/rollback",
            new FormUrlEncodedContent([new(PageForms.TokenField, PageForms.FormToken(page)), new("restoreData", "true")]), Cancel);

        Assert.Contains($"action=\"/status/jobs/{update.Id}/rollback\"", dashboard, StringComparison.Ordinal);
        Assert.Contains("Previous images", dashboard, StringComparison.Ordinal);
        Assert.Contains("previous image(s) of registry.test/forge/app", dashboard, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, confirm.StatusCode);
        Assert.Contains("This also overwrites, with the pre-update set", page, StringComparison.Ordinal);
        Assert.Contains(update.BackupId!, page, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, pressed.StatusCode);
        Assert.Contains("Rolling%20back", pressed.Headers.Location!.ToString(), StringComparison.Ordinal);
        var queued = Assert.Single(await Store.ListJobsAsync(JobState.Queued, Name, 10, Cancel));
        Assert.Equal(update.Id, queued.RollbackOf);
        Assert.Equal(update.BackupId, queued.RestoreSetId);
    }

    [Theory]
    [InlineData(UpdatePhase.Pulling)]
    [InlineData(UpdatePhase.RestoringSet)]
    [InlineData(UpdatePhase.CheckingDependents)]
    public async Task A_rollback_of_a_finished_update_interrupted_after_a_phase_is_finished_at_the_next_start(UpdatePhase phase)
    {
        var (update, previousId) = await UpdateKeepingThePreviousImageAsync();

        var rollback = await RollBackAsync(update.Id, restoreData: true, crashAfter: phase);

        Assert.True(rollback.State == JobState.Succeeded, $"{rollback.State}: {rollback.Reason}");
        Assert.Equal(previousId, Engine.Named(Name)!.ImageId);
        Assert.Equal([update.BackupId!], _backups.Restores);
    }

    [Theory]
    [InlineData(null)]
    [InlineData(UpdatePhase.RollingBack)]
    [InlineData(UpdatePhase.RollbackGating)]
    public async Task A_dependent_that_fails_against_the_new_version_rolls_it_back_and_is_restarted_after_even_across_a_restart(UpdatePhase? crashAfter)
    {
        var old = Engine.Add(Name, Image, "automatic");
        var gitea = Engine.Add("gitea", "registry.test/gitea:1", moreLabels: new Dictionary<string, string>
        {
            [DependentLabels.Requires] = Name,
            ["update.health.cmd"] = "check the database",
            ["update.health.timeout"] = "0.2",
        });
        var newImage = Engine.Publish(Repository, Payloads.DigestB).Id;
        Engine.CommandsFail = container => container.Name == "gitea" && Engine.Named(Name)?.ImageId == newImage;

        var job = crashAfter is { } phase ? await CrashAndResumeAsync(phase) : await RunAsync();

        Assert.True(job.State == JobState.RolledBack, $"{job.State}: {job.Reason}");
        Assert.Contains("gitea, which requires forge, failed its health gate", job.Reason, StringComparison.Ordinal);
        Assert.Equal("gitea", job.FailedDependent);
        Assert.Contains("--- gitea ---", job.LogTail, StringComparison.Ordinal);
        Assert.Equal(old.Id, Engine.Named(Name)!.Id);
        var steps = job.Steps.Where(s => s.State != StepState.Interrupted).Select(s => $"{s.Name} {s.State.Name()}").ToList();
        Assert.Contains("dependent gitea failed", steps);
        Assert.Contains("dependent gitea after rollback succeeded", steps);
        // Restarted once against the new version, once after the rollback (again after a crash in the rollback's gate).
        Assert.InRange(Engine.Starts(gitea.Id), 2, crashAfter == UpdatePhase.RollbackGating ? 3 : 2);
        Assert.Equal(1, await NoticesAsync(job.Id));
    }

    /// <summary>A succeeded update whose previous image is still on the host; returns the job and that image.</summary>
    private async Task<(JobView Update, string PreviousId)> UpdateKeepingThePreviousImageAsync()
    {
        Engine.Add(Name, Image, "automatic");
        var previousId = Engine.Named(Name)!.ImageId;
        Engine.Images.Add(new ImageEntry(previousId, [$"{Repository}@{Payloads.DigestA}"], 10, DateTimeOffset.UnixEpoch));
        Engine.Publish(Repository, Payloads.DigestB);
        return (await RunAsync(), previousId);
    }

    private async Task<JobView> RollBackAsync(string jobId, bool restoreData, UpdatePhase? crashAfter = null)
    {
        var response = await _app.Admin().PostAsync($"/api/jobs/{jobId}/rollback?restoreData={(restoreData ? "true" : "false")}", null, Cancel);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>(Cancel)).GetProperty("id").GetString()!;
        Assert.True(await Store.TransitionAsync(id, JobState.Queued, JobState.Running, null, Cancel));
        if (crashAfter is { } phase)
        {
            _crashAfter = phase;
            var running = (await Store.GetJobAsync(id, Cancel))!;
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Pipeline.RunAsync(running, Cancel));
            await Pipeline.ResumeAsync((await Store.GetJobAsync(id, Cancel))!, Cancel);
        }
        else
        {
            await Pipeline.RunAsync((await Store.GetJobAsync(id, Cancel))!, Cancel);
        }

        return (await Store.GetJobAsync(id, Cancel))!;
    }

    private async Task<JobView> RunAsync()
    {
        var queued = await QueueAsync();
        await Pipeline.RunAsync(queued, Cancel);
        return (await Store.GetJobAsync(queued.Id, Cancel))!;
    }

    /// <summary>Runs until <paramref name="phase"/> is journaled, changes the engine, and lets the job go on.</summary>
    private async Task<JobView> RunUntilAsync(Action change, UpdatePhase phase)
    {
        var queued = await QueueAsync();
        _crashAfter = phase;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Pipeline.RunAsync(queued, Cancel));
        change();
        await Pipeline.ResumeAsync((await Store.GetJobAsync(queued.Id, Cancel))!, Cancel);
        return (await Store.GetJobAsync(queued.Id, Cancel))!;
    }

    /// <summary>The service stops right after <paramref name="phase"/> is journaled; the next start resumes the job.</summary>
    private async Task<JobView> CrashAndResumeAsync(UpdatePhase phase)
    {
        var queued = await QueueAsync();
        _crashAfter = phase;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Pipeline.RunAsync(queued, Cancel));
        var interrupted = (await Store.GetJobAsync(queued.Id, Cancel))!;
        Assert.Equal(JobState.Running, interrupted.State);
        Assert.Equal(phase, interrupted.Phase);

        await Pipeline.ResumeAsync(interrupted, Cancel);
        return (await Store.GetJobAsync(queued.Id, Cancel))!;
    }

    private async Task<JobView> QueueAsync(string? containerId = null)
    {
        var container = Engine.Named(Name) ?? Engine.Named(Name + ".old");
        var record = new EventRecord(DateTimeOffset.UtcNow, new UpdateEvent("update", "docker", Image, Payloads.DigestB, "myserver", null, null, []));
        var decision = new UpdateDecision(Name, containerId ?? container?.Id, Policies.Automatic, Decision.Queued, JobState.Queued, Image, container?.ImageId, "automatic update");
        var (_, jobs, _) = await Store.RecordEventAsync(record, [decision], Cancel);
        Assert.True(await Store.TransitionAsync(jobs[0].Id, JobState.Queued, JobState.Running, null, Cancel));
        return (await Store.GetJobAsync(jobs[0].Id, Cancel))!;
    }

    private Task<long> NoticesAsync(string jobId) => _app.CountAsync("outbox", $"job_id = '{jobId}'");

    /// <summary>The journal, except that the service "dies" once, right after the phase the test chose is written.</summary>
    private sealed class CrashingJournal(JobStore inner, UpdatePipelineTests test) : IUpdateJournal
    {
        public async Task EnterPhaseAsync(string jobId, UpdatePhase phase, PhaseFacts facts, CancellationToken cancellationToken)
        {
            if (phase == test._crashBefore)
            {
                test._crashBefore = null;
                throw new OperationCanceledException($"the service stopped before phase {phase.ToText()} was written");
            }

            await inner.EnterPhaseAsync(jobId, phase, facts, cancellationToken);
            if (phase == test._crashAfter)
            {
                test._crashAfter = null;
                throw new OperationCanceledException($"the service stopped after phase {phase.ToText()}");
            }
        }

        public Task<int> StartStepAsync(string jobId, string name, CancellationToken cancellationToken) => inner.StartStepAsync(jobId, name, cancellationToken);

        public Task EndStepAsync(string jobId, int seq, StepState state, string? detail, CancellationToken cancellationToken) =>
            inner.EndStepAsync(jobId, seq, state, detail, cancellationToken);

        public Task CloseOpenStepsAsync(string jobId, string detail, CancellationToken cancellationToken) => inner.CloseOpenStepsAsync(jobId, detail, cancellationToken);

        public Task<bool> TransitionAsync(string id, JobState from, JobState to, string? reason, CancellationToken cancellationToken) =>
            inner.TransitionAsync(id, from, to, reason, cancellationToken);

        public Task FinishAsync(string id, JobState state, string outcome, string reason, string? logTail, CancellationToken cancellationToken) =>
            inner.FinishAsync(id, state, outcome, reason, logTail, cancellationToken);
    }

    private sealed class FakeBackups : IUpdateBackups
    {
        public string? Failure { get; set; }

        public string? RestoreFailure { get; set; }

        public List<string> Taken { get; } = [];

        public List<string> Restores { get; } = [];

        public Task<BackupOutcome> SnapshotAsync(string container, string jobId, string? imageId, CancellationToken cancellationToken)
        {
            if (Failure is not null)
            {
                return Task.FromResult(new BackupOutcome(null, Failure));
            }

            var id = $"set-{Taken.Count + 1}";
            Taken.Add(id);
            return Task.FromResult(new BackupOutcome(id, $"backup set {id}"));
        }

        public Task<string?> RestoreAsync(string backupId, CancellationToken cancellationToken)
        {
            Restores.Add(backupId);
            return Task.FromResult(RestoreFailure);
        }

        public Task<IReadOnlyList<string>> MembersAsync(string container, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyList<string>>([container]);
    }
}
