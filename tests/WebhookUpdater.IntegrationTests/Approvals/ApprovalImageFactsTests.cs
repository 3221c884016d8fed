#nullable disable warnings
using System.Net;
using System.Text.RegularExpressions;
using Docker.DotNet;
using WebhookUpdater.IntegrationTests.Deployment;
using WebhookUpdater.IntegrationTests.Support;
using WebhookUpdater.IntegrationTests.Updates;

namespace WebhookUpdater.IntegrationTests.Approvals;

/// <summary>
/// What the approval approves, against the real servers: images built here with OCI labels and
/// pushed to the loopback registry, the new one pulled by the service as soon as the job waits
/// (the container untouched), and its facts in the email (SES emulator) and on the page (Chromium).
/// </summary>
[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed partial class ApprovalImageFactsTests(DockerFixture docker) : DockerTest
{
    protected override DockerFixture Docker => docker;

    private static readonly TimeSpan MailTimeout = TimeSpan.FromSeconds(60);
    private const string Source = "https://github.com/example-org/example-app";
    private readonly SesEmulator _ses = new();
    private readonly string _operator = SesEmulator.NewAddress("operator");
    private readonly string _context = Directory.CreateTempSubdirectory("wu-it-labels-").FullName;

    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        await _ses.RequireAsync();
    }

    public override async ValueTask DisposeAsync()
    {
        _ses.Dispose();
        Directory.Delete(_context, recursive: true);
        await base.DisposeAsync();
    }

    [GeneratedRegex(@"https?://[^\s""<>]+/approvals/[A-Za-z0-9_-]+")]
    private static partial Regex LinkPattern();

    private Dictionary<string, string> Settings() => _ses.ServiceSettings(_operator, UpdatePipelineTests.FastGate);

    /// <summary>The test app of <paramref name="appVersion"/> with these labels, as repository:tag in the loopback registry; its digest.</summary>
    private async Task<string> PublishLabelledAsync(string repository, string tag, string appVersion, IReadOnlyDictionary<string, string> labels)
    {
        await docker.EnsureImageAsync(TestEnvironment.AppImage(appVersion));
        await File.WriteAllTextAsync(Path.Combine(_context, "Dockerfile"), $"FROM {TestEnvironment.AppImage(appVersion)}\n");
        var result = await Cli.RunAsync(
            UpdaterImage.Docker(),
            ["build", "--network", "host", .. labels.SelectMany(label => new[] { "--label", $"{label.Key}={label.Value}" }), "-t", $"{repository}:{tag}", _context],
            environment: UpdaterImage.DockerEnvironment);
        Assert.True(result.ExitCode == 0, result.Output);
        return await docker.PushAsync(repository, tag);
    }

    private static Dictionary<string, string> Oci(string version, string revision, string created) => new()
    {
        ["org.opencontainers.image.version"] = version,
        ["org.opencontainers.image.revision"] = revision,
        ["org.opencontainers.image.source"] = Source,
        ["org.opencontainers.image.created"] = created,
    };

    private async Task<bool> EngineHasAsync(string reference)
    {
        try
        {
            await docker.Client.Images.InspectImageAsync(reference);
            return true;
        }
        catch (DockerImageNotFoundException)
        {
            return false;
        }
        catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
    }

    [Fact]
    public async Task The_email_and_the_page_show_from_and_to_of_the_labels_and_the_new_image_is_pulled_before_approval()
    {
        var repository = docker.Repository("labels");
        var name = docker.Name("labels");
        await PublishLabelledAsync(repository, "stable", "1.0", Oci("1.0.0", "<i>r100</i>", "2026-01-01T00:00:00Z"));
        await docker.RunAppAsync(name, $"{repository}:stable", new Dictionary<string, string> { ["update.policy"] = "manual" });
        var before = await docker.Client.Containers.InspectContainerAsync(name);
        var digest = await PublishLabelledAsync(repository, "stable", "1.1", Oci("1.1.0", "def4567", "2026-02-01T00:00:00Z"));
        // The engine must not have the new image before the webhook: only the registry has it.
        await docker.Client.Images.DeleteImageAsync($"{repository}:stable", new Docker.DotNet.Models.ImageDeleteParameters());
        Assert.False(await EngineHasAsync($"{repository}@{digest}"));

        await using var service = await ServiceProcess.StartAsync(Data, Settings());
        var jobId = (await service.PostEventAsync(ServiceHost.DiunPayload($"{repository}:stable", digest, name))).GetProperty("jobs")[0].GetProperty("id").GetString();
        var email = await _ses.WaitForAsync(_operator, e => e.Text?.Contains(jobId, StringComparison.Ordinal) == true && e.Subject.StartsWith("Approval needed", StringComparison.Ordinal), MailTimeout);

        // Pulled, and nothing else: the same container on the same image, the job still waiting.
        Assert.True(await EngineHasAsync($"{repository}@{digest}"), "the new image was not pulled ahead of the approval");
        var after = await docker.Client.Containers.InspectContainerAsync(name);
        Assert.Equal(before.ID, after.ID);
        Assert.Equal(before.Image, after.Image);
        Assert.True(after.State.Running);
        Assert.Equal("awaiting_approval", (await service.GetJsonAsync($"/api/jobs/{jobId}")).GetProperty("state").GetString());

        Assert.Contains("Tag: stable -> stable", email.Text, StringComparison.Ordinal);
        Assert.Contains("Version: 1.0.0 -> 1.1.0", email.Text, StringComparison.Ordinal);
        Assert.Contains("Revision: <i>r100</i> -> def4567", email.Text, StringComparison.Ordinal);
        Assert.Contains("Created: 2026-01-01T00:00:00Z -> 2026-02-01T00:00:00Z", email.Text, StringComparison.Ordinal);
        Assert.Contains("Size change: +", email.Text, StringComparison.Ordinal);
        Assert.Contains($"Release notes: {Source}/releases/tag/1.1.0", email.Text, StringComparison.Ordinal);
        Assert.Contains("&lt;i&gt;r100&lt;/i&gt;", email.Html, StringComparison.Ordinal);
        Assert.DoesNotContain("<i>r100</i>", email.Html, StringComparison.Ordinal);
        Assert.Contains($"href=\"{Source}/releases/tag/1.1.0\"", email.Html, StringComparison.Ordinal);
        Assert.DoesNotContain(ServiceHost.SigningKey, email.Html, StringComparison.Ordinal);
        Assert.DoesNotContain(ServiceHost.WebhookSecret, email.Text, StringComparison.Ordinal);

        var link = LinkPattern().Match(email.Text).Value;
        var (playwright, browser) = await Chromium.LaunchAsync();
        using (playwright)
        await using (browser)
        {
            var page = await browser.NewPageAsync();
            await page.GotoAsync(link);
            var change = await page.Locator("#image-change").InnerTextAsync();
            foreach (var expected in new[] { "Version", "1.0.0", "1.1.0", "Revision", "<i>r100</i>", "def4567", "2026-02-01T00:00:00Z", Source, "Size change" })
            {
                Assert.Contains(expected, change, StringComparison.Ordinal);
            }

            Assert.Equal(0, await page.Locator("#image-change i").CountAsync());
            Assert.Equal($"{Source}/releases/tag/1.1.0", await page.Locator("#release-notes").GetAttributeAsync("href"));
        }

        Assert.Equal(before.ID, (await docker.Client.Containers.InspectContainerAsync(name)).ID);
    }

    [Fact]
    public async Task An_image_without_the_labels_shows_them_as_missing_and_a_failed_pull_is_said_and_the_approval_still_works()
    {
        var (name, repository, _) = await ManualAppAsync("nolabels");
        var digest = await docker.PublishAsync(repository, "stable", "1.1");
        var unknown = "sha256:" + new string('e', 64);
        await using var service = await ServiceProcess.StartAsync(Data, Settings());
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });

        var jobId = (await service.PostEventAsync(ServiceHost.DiunPayload($"{repository}:stable", digest, name))).GetProperty("jobs")[0].GetProperty("id").GetString();
        var email = await _ses.WaitForAsync(_operator, e => e.Text?.Contains(jobId, StringComparison.Ordinal) == true, MailTimeout);

        // The test app carries only a version label: the rest is missing, and no release link is made up.
        Assert.Contains("Version: 1.0 -> 1.1", email.Text, StringComparison.Ordinal);
        Assert.Contains("Revision: missing -> missing", email.Text, StringComparison.Ordinal);
        Assert.Contains("Source: missing -> missing", email.Text, StringComparison.Ordinal);
        Assert.Contains("Created: missing -> missing", email.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("Release notes", email.Text, StringComparison.Ordinal);
        var page = await (await http.GetAsync(LinkPattern().Match(email.Text).Value)).Content.ReadAsStringAsync();
        Assert.Contains("<tr><th>Revision</th><td>missing</td><td>missing</td></tr>", page, StringComparison.Ordinal);
        Assert.DoesNotContain("release-notes", page, StringComparison.Ordinal);

        // A digest the registry does not have: the pull fails, the email says so, the link still decides.
        var failedJob = (await service.PostEventAsync(ServiceHost.DiunPayload($"{repository}:stable", unknown, name))).GetProperty("jobs")[0].GetProperty("id").GetString();
        var failed = await _ses.WaitForAsync(_operator, e => e.Text?.Contains(failedJob, StringComparison.Ordinal) == true, MailTimeout);
        Assert.Contains("could not be pulled yet", failed.Text, StringComparison.Ordinal);
        Assert.Contains("Version: 1.0 -> missing", failed.Text, StringComparison.Ordinal);
        var failedLink = LinkPattern().Match(failed.Text).Value;
        Assert.Contains("could not be pulled yet", await (await http.GetAsync(failedLink)).Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var reject = await http.PostAsync(failedLink, new FormUrlEncodedContent([new("decision", "reject")]));
        Assert.Equal(HttpStatusCode.OK, reject.StatusCode);
        Assert.Equal("rejected", (await service.GetJsonAsync($"/api/jobs/{failedJob}")).GetProperty("state").GetString());
    }

    private async Task<(string Name, string Repository, string Id)> ManualAppAsync(string role)
    {
        var (repository, name) = await docker.RunPublishedAppAsync(role, "manual");
        return (name, repository, (await docker.Client.Containers.InspectContainerAsync(name)).ID);
    }
}
