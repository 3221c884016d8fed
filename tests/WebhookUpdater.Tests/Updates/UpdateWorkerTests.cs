using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using WebhookUpdater.Containers;
using WebhookUpdater.Leases;
using WebhookUpdater.Tests.Support;

namespace WebhookUpdater.Tests.Updates;

/// <summary>The worker over the in-memory engine: which containers a job holds while it runs.</summary>
public sealed class UpdateWorkerTests
{
    private const string Repository = "registry.test/forge/app";

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static TestApp App(bool worker = true, string? dataDirectory = null) => new(new()
    {
        ["Updates:RunWorker"] = worker ? "true" : "false",
        ["Leases:WaitTimeout"] = "00:00:00",
        ["HealthGate:StableFor"] = "00:00:00",
        ["HealthGate:PollInterval"] = "00:00:00.010",
    }, dataDirectory: dataDirectory)
    {
        ConfigureServices = services =>
        {
            services.RemoveAll<IContainerActions>();
            services.AddSingleton(provider => (IContainerActions)provider.GetRequiredService<IContainerLookup>());
        },
    };

    [Fact]
    public async Task An_update_does_not_start_while_its_backup_with_partner_is_held_and_names_the_holder()
    {
        await using var app = App();
        app.Containers.Add("forge", Repository + ":stable", "automatic", moreLabels: new Dictionary<string, string> { ["backup.with"] = "forge-db" });
        app.Containers.Add("forge-db", "registry.test/postgres:16");
        app.Containers.Publish(Repository, Payloads.DigestB);
        var leases = app.Services.GetRequiredService<ContainerLeases>();
        await using var restore = (await leases.AcquireAsync(["forge-db"], OperationKind.Restore, "restore-1", TimeSpan.Zero, Cancel)).Lease!;

        var answer = await app.Webhook().PostAsync("/api/diun", Payloads.Raw(Payloads.Diun(Repository + ":stable", Payloads.DigestB, "forge")), Cancel);
        Assert.Equal(HttpStatusCode.Accepted, answer.StatusCode);
        var jobId = (await answer.JsonAsync()).GetProperty("jobs")[0].GetProperty("id").GetString();
        var job = await FinishedAsync(app, jobId!);

        Assert.Equal("failed", job.GetProperty("state").GetString());
        Assert.StartsWith("forge-db was busy with restore restore-1", job.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Empty(app.Containers.Operations);
    }

    [Fact]
    public async Task A_job_the_service_was_cut_short_in_three_times_ends_for_the_operator_without_touching_a_container()
    {
        // The first service writes the job as three crashes in the swap leave it, then stops (its
        // dispose would delete the data folder, so it is disposed last).
        await using var before = App(worker: false);
        before.Containers.Add("forge", Repository + ":stable", "automatic");
        var answer = await before.Webhook().PostAsync("/api/diun", Payloads.Raw(Payloads.Diun(Repository + ":stable", Payloads.DigestB, "forge")), Cancel);
        var jobId = (await answer.JsonAsync()).GetProperty("jobs")[0].GetProperty("id").GetString()!;
        await before.ExecuteAsync($"UPDATE jobs SET state = 'running', attempts = 3, phase = 'stopping' WHERE id = '{jobId}'");
        before.Services.GetRequiredService<Microsoft.Extensions.Hosting.IHostApplicationLifetime>().StopApplication();
        var folder = before.DataDirectory;

        await using var after = App(dataDirectory: folder);
        after.Containers.Add("forge", Repository + ":stable", "automatic");
        after.Containers.Add("forge.old", Repository + ":stable", "automatic");
        _ = after.Services;
        var job = await FinishedAsync(after, jobId);

        Assert.Equal("failed", job.GetProperty("state").GetString());
        Assert.Equal("error: action required", job.GetProperty("outcome").GetString());
        var reason = job.GetProperty("reason").GetString()!;
        Assert.Contains("stopped 3 times while this job was at phase stopping", reason, StringComparison.Ordinal);
        Assert.Contains("forge running, forge.old running, no forge.new", reason, StringComparison.Ordinal);
        Assert.Empty(after.Containers.Operations);
        Assert.Equal(1, await after.CountAsync("outbox", $"job_id = '{jobId}'"));
    }

    private static async Task<JsonElement> FinishedAsync(TestApp app, string jobId)
    {
        var admin = app.Admin();
        for (var look = 0; look < 500; look++)
        {
            var job = await (await admin.GetAsync($"/api/jobs/{jobId}", Cancel)).JsonAsync();
            if (job.GetProperty("state").GetString() is not ("queued" or "running"))
            {
                return job;
            }

            await Task.Delay(20, Cancel);
        }

        throw new TimeoutException($"job {jobId} did not finish within 10 s");
    }
}
