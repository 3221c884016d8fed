using Microsoft.Extensions.DependencyInjection;
using WebhookUpdater.Backups;
using WebhookUpdater.Swarm;
using WebhookUpdater.Tests.Support;
using WebhookUpdater.Updates;

namespace WebhookUpdater.Tests.Updates;

/// <summary>Swarm services as targets and the service job's branches, over Swarm in memory and the real journal.</summary>
public sealed class ServiceUpdatePipelineTests : IAsyncLifetime
{
    private const string Repository = "registry.test/forge/app";
    private const string Image = Repository + ":stable";
    private const string Name = "forge_app";

    private readonly TestApp _app;
    private readonly FakeSwarmBackups _backups;

    public ServiceUpdatePipelineTests()
    {
        var swarm = new FakeSwarm();
        _backups = new FakeSwarmBackups(swarm);
        _app = new(new()
        {
            ["HealthGate:StableFor"] = "00:00:07",
            ["Swarm:PollInterval"] = "00:00:00.001",
        })
        {
            Swarm = swarm,
            ConfigureServices = services => services.AddSingleton<ISwarmBackups>(_backups),
        };
    }

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private FakeSwarm Swarm => _app.Swarm;

    private JobStore Store => _app.Services.GetRequiredService<JobStore>();

    private ServiceUpdatePipeline Pipeline => _app.Services.GetRequiredService<ServiceUpdatePipeline>();

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task On_a_swarm_manager_an_event_matches_the_services_of_the_image_by_their_own_labels()
    {
        Swarm.IsManager = true;
        Swarm.Add(Name, $"{Image}@{Payloads.DigestA}", "automatic");
        Swarm.Add("other_app", $"{Repository}:2.0@{Payloads.DigestA}", "automatic");
        Swarm.Add("unlabelled", $"{Image}@{Payloads.DigestA}", policy: null);
        _app.Containers.Add($"{Name}.1.abc", Image, "automatic", moreLabels: new Dictionary<string, string> { [SwarmLabels.TaskOfService] = "svc" });

        var answer = await (await _app.Webhook().PostAsync("/api/diun", Payloads.Raw(Payloads.Diun(Image, Payloads.DigestB)), Cancel)).JsonAsync();

        var jobs = answer.GetProperty("jobs").EnumerateArray().ToDictionary(job => job.GetProperty("container").GetString()!, job => job.GetProperty("decision").GetString());
        Assert.Equal(new Dictionary<string, string?>
        {
            [Name] = "queued",
            ["other_app"] = "ignored_tag_mismatch",
            ["unlabelled"] = "ignored_no_policy",
        }, jobs);
        var job = (await Store.ListJobsAsync(null, Name, 1, Cancel))[0];
        Assert.Equal(UpdateTarget.Service, job.Target);
        Assert.Equal(Payloads.DigestA, job.CurrentImageId);
    }

    [Fact]
    public async Task A_service_already_on_the_digest_is_ignored()
    {
        Swarm.IsManager = true;
        Swarm.Add(Name, $"{Image}@{Payloads.DigestB}", "automatic");

        var answer = await (await _app.Webhook().PostAsync("/api/diun", Payloads.Raw(Payloads.Diun(Image, Payloads.DigestB)), Cancel)).JsonAsync();

        Assert.Equal("ignored_already_current", answer.GetProperty("jobs")[0].GetProperty("decision").GetString());
    }

    [Fact]
    public async Task Swarm_completing_the_update_ends_the_job_succeeded_with_each_state_recorded()
    {
        Swarm.Add(Name, $"{Image}@{Payloads.DigestA}", "automatic");

        var job = await RunAsync();

        Assert.Equal(JobState.Succeeded, job.State);
        var sent = Assert.Single(Swarm.Sent);
        Assert.Equal($"{Image}@{Payloads.DigestB}", sent.Image);
        Assert.Equal(TimeSpan.FromSeconds(7), sent.MinimumMonitor);
        Assert.Equal(["check", "service-update", "swarm-updating", "swarm-completed"], job.Steps.Select(step => step.Name));
        Assert.Equal(0, await NoticesAsync(job.Id));
    }

    [Fact]
    public async Task The_monitor_window_follows_the_service_s_own_stable_time_label()
    {
        Swarm.Add(Name, $"{Image}@{Payloads.DigestA}", "automatic", new Dictionary<string, string> { ["update.health.stable"] = "45" });

        await RunAsync();

        Assert.Equal(TimeSpan.FromSeconds(45), Assert.Single(Swarm.Sent).MinimumMonitor);
    }

    [Fact]
    public async Task Swarm_rolling_back_ends_the_job_rolled_back_with_the_task_errors_and_one_notice()
    {
        Swarm.Add(Name, $"{Image}@{Payloads.DigestA}", "automatic");
        Swarm.Rollout.Clear();
        Swarm.Rollout.AddRange([SwarmUpdateStates.Updating, SwarmUpdateStates.RollbackStarted, SwarmUpdateStates.RollbackCompleted]);

        var job = await RunAsync();

        Assert.Equal(JobState.RolledBack, job.State);
        Assert.StartsWith("Swarm rolled forge_app back", job.Reason, StringComparison.Ordinal);
        Assert.Equal("task: non-zero exit (1)", job.LogTail);
        Assert.Equal($"{Image}@{Payloads.DigestA}", Swarm.Named(Name)!.Image);
        Assert.Equal(1, await NoticesAsync(job.Id));
    }

    [Fact]
    public async Task Swarm_pausing_the_update_fails_the_job_for_the_operator()
    {
        Swarm.Add(Name, $"{Image}@{Payloads.DigestA}", "automatic");
        Swarm.Rollout.Clear();
        Swarm.Rollout.AddRange([SwarmUpdateStates.Updating, SwarmUpdateStates.Paused]);

        var job = await RunAsync();

        Assert.Equal(JobState.Failed, job.State);
        Assert.Equal(JobOutcome.ServicePaused.ToText(), job.Outcome);
        Assert.Equal(1, await NoticesAsync(job.Id));
    }

    [Fact]
    public async Task A_service_with_backup_labels_is_backed_up_on_its_node_before_Swarm_is_sent_the_update()
    {
        Swarm.Add(Name, $"{Image}@{Payloads.DigestA}", "automatic", new Dictionary<string, string> { ["backup.postgres"] = "true" });

        var job = await RunAsync();

        Assert.Equal(JobState.Succeeded, job.State);
        Assert.Equal([(Name, "pre-update", 0)], _backups.Backups);
        Assert.Single(Swarm.Sent);
        Assert.Equal($"20260101-000000-pre-update-{Name}-abcdef", job.BackupId);
        var steps = job.Steps.Select(step => step.Name).ToList();
        Assert.True(steps.IndexOf("backup") < steps.IndexOf("service-update"), string.Join(", ", steps));
    }

    [Fact]
    public async Task A_service_whose_backup_fails_is_not_changed()
    {
        Swarm.Add(Name, $"{Image}@{Payloads.DigestA}", "automatic", new Dictionary<string, string> { ["backup.postgres"] = "true" });
        _backups.Failure = "service forge_app has backup labels … Set Backups:Store=S3";

        var job = await RunAsync();

        Assert.Equal(JobState.Failed, job.State);
        Assert.Equal(JobOutcome.NothingChanged.ToText(), job.Outcome);
        Assert.Contains("backup failed, nothing was changed", job.Reason);
        Assert.Contains("Backups:Store=S3", job.Reason);
        Assert.Empty(Swarm.Sent);
    }

    [Fact]
    public async Task A_restart_before_Swarm_took_the_update_sends_it_once()
    {
        var job = await CrashBeforeSendingAndResumeAsync(_ => Task.CompletedTask);

        Assert.Equal(JobState.Succeeded, job.State);
        Assert.Single(Swarm.Sent);
    }

    [Fact]
    public async Task A_restart_after_Swarm_took_the_update_only_follows_it()
    {
        var job = await CrashBeforeSendingAndResumeAsync(service =>
            Swarm.UpdateImageAsync(new ServiceImageUpdate(service.Id, service.Version, $"{Image}@{Payloads.DigestB}", TimeSpan.Zero), Cancel));

        Assert.Equal(JobState.Succeeded, job.State);
        Assert.Single(Swarm.Sent);
        Assert.EndsWith("(followed to its end after the service restarted)", job.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_service_changed_since_the_event_is_left_alone()
    {
        Swarm.Add(Name, $"{Image}@{Payloads.DigestA}", "automatic");
        var queued = await QueueAsync();
        var changed = Swarm.Named(Name)!;
        await Swarm.UpdateImageAsync(new ServiceImageUpdate(changed.Id, changed.Version, $"{Image}@sha256:{new string('c', 64)}", TimeSpan.Zero), Cancel);
        Swarm.Sent.Clear();

        await Pipeline.RunAsync(queued, Cancel);

        var job = (await Store.GetJobAsync(queued.Id, Cancel))!;
        Assert.Equal(JobState.Cancelled, job.State);
        Assert.Empty(Swarm.Sent);
    }

    [Fact]
    public void The_update_forces_a_rollback_and_a_monitor_window_only_when_the_operator_set_none()
    {
        var none = DockerSwarmServices.Forced(null, TimeSpan.FromSeconds(10));
        Assert.Equal("rollback", none.FailureAction);
        Assert.Equal(TimeSpan.FromSeconds(10), none.Monitor);

        var set = DockerSwarmServices.Forced(new Docker.DotNet.Models.SwarmUpdateConfig { FailureAction = "pause", Monitor = TimeSpan.FromSeconds(30), Order = "start-first" }, TimeSpan.FromSeconds(10));
        Assert.Equal("rollback", set.FailureAction);
        Assert.Equal(TimeSpan.FromSeconds(30), set.Monitor);
        Assert.Equal("start-first", set.Order);
    }

    /// <summary>The version is journaled, then the service stops; <paramref name="meanwhile"/> is what Swarm got before it did.</summary>
    private async Task<JobView> CrashBeforeSendingAndResumeAsync(Func<ServiceInfo, Task> meanwhile)
    {
        var service = Swarm.Add(Name, $"{Image}@{Payloads.DigestA}", "automatic");
        var queued = await QueueAsync();
        await Store.EnterPhaseAsync(queued.Id, UpdatePhase.ServiceUpdating, new PhaseFacts { ContainerId = service.Id, ServiceVersion = (long)service.Version }, Cancel);
        await meanwhile(service);

        await Pipeline.ResumeAsync((await Store.GetJobAsync(queued.Id, Cancel))!, Cancel);
        return (await Store.GetJobAsync(queued.Id, Cancel))!;
    }

    private async Task<JobView> RunAsync()
    {
        var queued = await QueueAsync();
        await Pipeline.RunAsync(queued, Cancel);
        return (await Store.GetJobAsync(queued.Id, Cancel))!;
    }

    private async Task<JobView> QueueAsync()
    {
        var service = Swarm.Named(Name)!;
        var record = new EventRecord(DateTimeOffset.UtcNow, new UpdateEvent("update", "swarm", Image, Payloads.DigestB, "myserver", null, null, []));
        var decision = UpdateDecider.Decide(WebhookUpdater.Containers.ImageReference.Parse(Image), Payloads.DigestB, service.AsTarget()) with { Target = UpdateTarget.Service };
        var (_, jobs, _) = await Store.RecordEventAsync(record, [decision], Cancel);
        Assert.True(await Store.TransitionAsync(jobs[0].Id, JobState.Queued, JobState.Running, null, Cancel));
        return (await Store.GetJobAsync(jobs[0].Id, Cancel))!;
    }

    private Task<long> NoticesAsync(string jobId) => _app.CountAsync("outbox", $"job_id = '{jobId}'");
}
