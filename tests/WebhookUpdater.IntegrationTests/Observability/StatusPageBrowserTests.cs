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
        var page = await browser.NewPageAsync();

        await page.GotoAsync(service.Http.BaseAddress!.ToString());
        await page.FillAsync("#token", ServiceHost.AdminToken);
        await page.ClickAsync("button[type=submit]");
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
}
