#nullable disable warnings
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.RegularExpressions;
using Docker.DotNet.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using WebhookUpdater.IntegrationTests.Support;
using WebhookUpdater.IntegrationTests.Updates;

namespace WebhookUpdater.IntegrationTests.Approvals;

/// <summary>
/// The manual path against the real servers: Docker reads the policy, the SES v2 emulator receives
/// the mail, Chromium opens the emailed link and presses Approve, the pipeline really runs.
/// </summary>
[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed partial class ApprovalEmailFlowTests(DockerFixture docker) : DockerTest
{
    protected override DockerFixture Docker => docker;

    private static readonly TimeSpan MailTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan JobTimeout = TimeSpan.FromSeconds(150);
    private readonly SesEmulator _ses = new();
    private readonly string _operator = SesEmulator.NewAddress("operator");

    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        await _ses.RequireAsync();
    }

    public override async ValueTask DisposeAsync()
    {
        _ses.Dispose();
        await base.DisposeAsync();
    }

    [GeneratedRegex(@"https?://[^\s""<>]+/approvals/[A-Za-z0-9_-]+")]
    private static partial Regex LinkPattern();

    private Dictionary<string, string> Settings(Dictionary<string, string> more = null)
    {
        var settings = _ses.ServiceSettings(_operator, UpdatePipelineTests.FastGate, more);
        settings["Email:From"] = "WebhookUpdater <updates@example.test>";
        return settings;
    }

    /// <summary>A manual container on a repository of its own, running version 1.0, healthy.</summary>
    private async Task<(string Name, string Repository, string Id)> ManualContainerAsync(string role, string version = "1.0")
    {
        var (repository, name) = await docker.RunPublishedAppAsync(role, "manual", version);
        var id = (await docker.Client.Containers.InspectContainerAsync(name)).ID;
        for (var i = 0; i < 100 && (await docker.Client.Containers.InspectContainerAsync(id)).State.Health?.Status != "healthy"; i++)
        {
            await Task.Delay(200);
        }

        return (name, repository, id);
    }

    private static async Task<HttpResponseMessage> PostDecisionAsync(HttpClient http, string link, string decision, bool json = false)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, link) { Content = new FormUrlEncodedContent([new("decision", decision)]) };
        if (json)
        {
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        }

        return await http.SendAsync(request);
    }

    private static string ChangeOneCharacter(string link)
    {
        var at = link.Length - 7;
        return link[..at] + (link[at] == 'A' ? 'B' : 'A') + link[(at + 1)..];
    }

    [Fact]
    public async Task A_manual_update_runs_only_after_the_emailed_link_is_approved_in_a_browser()
    {
        var (name, repository, oldId) = await ManualContainerAsync("browser");
        var digest = await docker.PublishAsync(repository, "stable", "1.1");
        var port = DockerFixture.FreePort();
        await using var service = await ServiceProcess.StartAsync(Data, Settings(), port);
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = service.Http.BaseAddress };

        var jobId = (await service.PostEventAsync(ServiceHost.DiunPayload($"{repository}:stable", digest, name))).GetProperty("jobs")[0].GetProperty("id").GetString();
        var available = await _ses.WaitForAsync(_operator, e => e.Subject == $"Approval needed: update {name} to {repository}:stable", MailTimeout);
        var link = LinkPattern().Match(available.Text).Value;

        Assert.StartsWith($"http://127.0.0.1:{port}/approvals/", link, StringComparison.Ordinal);
        Assert.Contains(link, available.Html, StringComparison.Ordinal);
        Assert.Contains(digest, available.Text, StringComparison.Ordinal);
        Assert.Contains($"/api/jobs/{jobId}", available.Text, StringComparison.Ordinal);

        // Mail scanners open links: GET, however often, changes nothing.
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(link)).StatusCode);
        }

        Assert.Equal("awaiting_approval", (await service.GetJsonAsync($"/api/jobs/{jobId}")).GetProperty("state").GetString());
        Assert.Equal(HttpStatusCode.BadRequest, (await PostDecisionAsync(http, ChangeOneCharacter(link), "approve")).StatusCode);
        Assert.Equal(oldId, (await docker.Client.Containers.InspectContainerAsync(name)).ID);

        var (playwright, browser) = await Chromium.LaunchAsync();
        using (playwright)
        await using (browser)
        {
            var page = await browser.NewPageAsync();
            await page.GotoAsync(link);
            Assert.Equal($"Update {name}?", await page.Locator("h1").TextContentAsync());
            var text = await page.Locator("main").InnerTextAsync();
            foreach (var expected in new[] { name, $"{repository}:stable", digest, "Backup", "Pull", "Recreate", "Health gate", "Rollback on failure", "Link expires" })
            {
                Assert.Contains(expected, text, StringComparison.Ordinal);
            }

            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(AppContext.BaseDirectory, "approval-page.png"), FullPage = true });
            await page.GetByRole(AriaRole.Button, new() { Name = "Approve" }).ClickAsync();
            await page.WaitForURLAsync(link + "/progress");

            var state = await FinalStateOnPageAsync(page);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(AppContext.BaseDirectory, "progress-page.png"), FullPage = true });
            var job = await service.GetJsonAsync($"/api/jobs/{jobId}");
            Assert.True(state == "succeeded", $"page says {state}; {JobWaiter.Timeline(job)}");
        }

        var updated = await docker.Client.Containers.InspectContainerAsync(name);
        Assert.NotEqual(oldId, updated.ID);
        Assert.Equal(await docker.ImageIdAsync(TestEnvironment.AppImage("1.1")), updated.Image);
        var succeeded = await _ses.WaitForAsync(_operator, e => e.Subject == $"Updated {name} to {repository}:stable", MailTimeout);
        Assert.Contains(digest, succeeded.Text, StringComparison.Ordinal);
        Assert.Contains("passed its health gate", succeeded.Html, StringComparison.Ordinal);

        var second = await PostDecisionAsync(http, link, "approve");
        var secondJson = await PostDecisionAsync(http, link, "approve", json: true);
        Assert.Equal(HttpStatusCode.Conflict, second.StatusCode);
        Assert.Contains("already used", await second.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Conflict, secondJson.StatusCode);
        Assert.Equal("succeeded", JsonDocument.Parse(await secondJson.Content.ReadAsStringAsync()).RootElement.GetProperty("state").GetString());
        Assert.Single(await _ses.MailToAsync(_operator), e => e.Subject.StartsWith("Approval needed", StringComparison.Ordinal));
    }

    /// <summary>Reads the state badge while the page refreshes itself, until the job has ended.</summary>
    private static async Task<string> FinalStateOnPageAsync(IPage page)
    {
        string[] final = ["succeeded", "failed", "rolled_back", "rejected", "superseded", "cancelled"];
        var deadline = DateTime.UtcNow + JobTimeout;
        var state = "";
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                state = (await page.Locator("#job-state").TextContentAsync(new() { Timeout = 5000 }))?.Trim() ?? "";
                if (final.Contains(state))
                {
                    return state;
                }
            }
            catch (PlaywrightException)
            {
                // The page was reloading (meta refresh) while it was read.
            }

            await Task.Delay(500);
        }

        return state;
    }

    [Fact]
    public async Task A_newer_digest_supersedes_the_emailed_link_and_an_old_link_expires()
    {
        var image = TestEnvironment.AppImage("1.0");
        var name = docker.Name("supersede");
        await docker.RunAppAsync(name, "1.0", new Dictionary<string, string> { ["update.policy"] = "manual" });
        SesEmulator.UseTestCredentialsInThisProcess();
        var clock = new ShiftedTimeProvider();
        var settings = Settings(new() { ["Updates:RunWorker"] = "false" });
        await using var service = new ServiceHost(Data, settings) { ConfigureServices = services => services.AddSingleton<TimeProvider>(clock) };
        var http = service.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        var digestA = "sha256:" + new string('a', 64);
        var digestB = "sha256:" + new string('b', 64);

        var jobA = (await service.PostEventAsync(ServiceHost.DiunPayload(image, digestA, name))).GetProperty("jobs")[0].GetProperty("id").GetString();
        var linkA = LinkPattern().Match((await _ses.WaitForAsync(_operator, e => e.Text.Contains(jobA, StringComparison.Ordinal), MailTimeout)).Text).Value;
        var jobB = (await service.PostEventAsync(ServiceHost.DiunPayload(image, digestB, name))).GetProperty("jobs")[0].GetProperty("id").GetString();
        var linkB = LinkPattern().Match((await _ses.WaitForAsync(_operator, e => e.Text.Contains(jobB, StringComparison.Ordinal), MailTimeout)).Text).Value;
        var path = (string link) => new Uri(link).PathAndQuery;

        var supersededPage = await http.GetAsync(path(linkA));
        var supersededPost = await PostDecisionAsync(http, path(linkA), "approve", json: true);
        Assert.Equal(HttpStatusCode.Conflict, supersededPage.StatusCode);
        Assert.Contains(jobB, await supersededPage.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Conflict, supersededPost.StatusCode);
        Assert.Equal(jobB, JsonDocument.Parse(await supersededPost.Content.ReadAsStringAsync()).RootElement.GetProperty("supersededBy").GetString());
        Assert.Equal("superseded", (await service.GetJsonAsync($"/api/jobs/{jobA}")).GetProperty("state").GetString());

        clock.Advance(TimeSpan.FromDays(7) + TimeSpan.FromMinutes(1));
        var expiredPage = await http.GetAsync(path(linkB));
        var expiredPost = await PostDecisionAsync(http, path(linkB), "approve", json: true);

        Assert.Equal(HttpStatusCode.Gone, expiredPage.StatusCode);
        Assert.Contains("expired", await expiredPage.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Gone, expiredPost.StatusCode);
        Assert.Equal("application/problem+json", expiredPost.Content.Headers.ContentType?.MediaType);
        Assert.Equal("awaiting_approval", (await service.GetJsonAsync($"/api/jobs/{jobB}")).GetProperty("state").GetString());
    }
}
