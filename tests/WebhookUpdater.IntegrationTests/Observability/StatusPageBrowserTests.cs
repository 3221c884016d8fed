#nullable disable warnings
using Docker.DotNet.Models;
using Microsoft.Playwright;
using WebhookUpdater.IntegrationTests.Support;
using WebhookUpdater.IntegrationTests.Updates;

namespace WebhookUpdater.IntegrationTests.Observability;

[Collection(DockerCollection.Name)]
public sealed class StatusPageBrowserTests(DockerFixture docker) : DockerTest
{
    protected override DockerFixture Docker => docker;


    [Fact]
    public async Task The_operator_logs_in_sees_the_pending_approval_approves_it_and_watches_the_job_finish()
    {
        var (repository, name) = await docker.RunPublishedAppAsync("status", "manual");
        var digest = await docker.PublishAsync(repository, "stable", "1.1");
        await using var service = await ServiceProcess.StartAsync(Data, UpdatePipelineTests.FastGate);
        var answer = await service.PostEventAsync(ServiceHost.DiunPayload($"{repository}:stable", digest, name));
        var jobId = answer.GetProperty("jobs")[0].GetProperty("id").GetString();
        var (playwright, browser) = await Chromium.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await LogInAsync(browser, service);
        var pending = page.Locator($"#pending-{jobId}");
        await Assertions.Expect(pending).ToContainTextAsync(name);
        await Assertions.Expect(pending).ToContainTextAsync("awaiting_approval");
        await pending.Locator("button.approve").ClickAsync();
        await Assertions.Expect(page.Locator(".notice")).ToContainTextAsync($"Approved: {name}");

        // The page refreshes itself every 5 s: the job's card turns succeeded without a click.
        var card = page.Locator($"#job-{jobId}[data-state='succeeded']");
        await Assertions.Expect(card).ToBeVisibleAsync(new() { Timeout = 90_000 });
        var job = await service.GetJsonAsync($"/api/jobs/{jobId}");
        Assert.Equal("succeeded", job.GetProperty("state").GetString());
        Assert.DoesNotContain(ServiceHost.AdminToken, await page.ContentAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_operator_sees_the_container_and_the_jobs_timeline_and_rolls_the_update_back_after_its_confirmation_page()
    {
        var (repository, name) = await docker.RunPublishedAppAsync("statusrb", "automatic");
        var digest = await docker.PublishAsync(repository, "stable", "1.1");
        await using var service = await ServiceProcess.StartAsync(Data, UpdatePipelineTests.FastGate);
        var answer = await service.PostEventAsync(ServiceHost.DiunPayload($"{repository}:stable", digest, name));
        var jobId = answer.GetProperty("jobs")[0].GetProperty("id").GetString();
        var update = await JobWaiter.WaitAsync(service.GetJsonAsync, jobId, TimeSpan.FromSeconds(120));
        Assert.True(update.GetProperty("state").GetString() == "succeeded", JobWaiter.Timeline(update));
        var (playwright, browser) = await Chromium.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await LogInAsync(browser, service);

        // The stack as the engine has it: the container with its policy, version and health, and its last job.
        var row = page.Locator($"table.containers tr[data-container='{name}']");
        await Assertions.Expect(row).ToContainTextAsync("automatic");
        await Assertions.Expect(row).ToContainTextAsync("version 1.1");
        await Assertions.Expect(row).ToContainTextAsync("healthy");
        await row.Locator("a").ClickAsync();
        await Assertions.Expect(page.Locator("p.state")).ToHaveAttributeAsync("data-state", "succeeded");
        foreach (var step in new[] { "backup", "pull", "recreate", "health-gate", "cleanup" })
        {
            await Assertions.Expect(page.Locator($"ol.steps li[data-step='{step}']")).ToContainTextAsync("succeeded");
        }

        await Assertions.Expect(page.Locator("dd[data-backup]")).ToHaveAttributeAsync("data-backup", update.GetProperty("backupId").GetString());
        await page.Locator("a", new() { HasText = "Status" }).First.ClickAsync();
        await page.Locator($"#job-{jobId} form.rollback button").ClickAsync();

        // A page of its own says what will happen; nothing has changed yet.
        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("Roll back an update");
        await Assertions.Expect(page.Locator("main")).ToContainTextAsync($"Roll back {name}");
        await Assertions.Expect(page.Locator("main")).ToContainTextAsync("The data stays as it is now.");
        var jobs = await service.GetJsonAsync($"/api/jobs?container={name}");
        Assert.Equal(1, jobs.GetArrayLength());
        await page.Locator("main form button").ClickAsync();
        await Assertions.Expect(page.Locator(".notice")).ToContainTextAsync($"Rolling back {name}");

        jobs = await service.GetJsonAsync($"/api/jobs?container={name}");
        var rollbackId = jobs.EnumerateArray().Single(j => j.GetProperty("id").GetString() != jobId).GetProperty("id").GetString();
        var rollback = await JobWaiter.WaitAsync(service.GetJsonAsync, rollbackId, TimeSpan.FromSeconds(120));
        Assert.True(rollback.GetProperty("state").GetString() == "succeeded", JobWaiter.Timeline(rollback));
        Assert.Equal(jobId, rollback.GetProperty("rollbackOf").GetString());
        var running = await docker.Client.Containers.InspectContainerAsync(name);
        Assert.Equal(await docker.ImageIdAsync(TestEnvironment.AppImage("1.0")), running.Image);
    }

    /// <summary>A new page, logged in to the status page with the admin token.</summary>
    private static async Task<IPage> LogInAsync(IBrowser browser, ServiceProcess service)
    {
        var page = await browser.NewPageAsync();
        await page.GotoAsync(service.Http.BaseAddress!.ToString());
        await page.FillAsync("#token", ServiceHost.AdminToken);
        await page.ClickAsync("button[type=submit]");
        return page;
    }
}
