#nullable disable warnings
using Microsoft.Extensions.DependencyInjection;
using WebhookUpdater.Digests;
using WebhookUpdater.IntegrationTests.Support;
using WebhookUpdater.Updates;

namespace WebhookUpdater.IntegrationTests.Digests;

/// <summary>
/// The digest emails against the real servers: Docker reads the notify policy, the SES v2
/// emulator receives the mail. The schedules are off; each test runs the digest itself, as its
/// schedule (or the catch-up after downtime) would.
/// </summary>
[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed class DigestEmailTests(DockerFixture docker) : DockerTest
{
    protected override DockerFixture Docker => docker;

    private static readonly TimeSpan MailTimeout = TimeSpan.FromSeconds(30);
    private readonly SesEmulator _ses = new();
    private readonly string _operator = SesEmulator.NewAddress("operator");

    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        await _ses.RequireAsync();
        SesEmulator.UseTestCredentialsInThisProcess();
    }

    public override async ValueTask DisposeAsync()
    {
        _ses.Dispose();
        await base.DisposeAsync();
    }

    private ServiceHost Service() => new(Data, _ses.ServiceSettings(_operator, new Dictionary<string, string>
    {
        ["Digests:NotifySchedule"] = "",
        ["Digests:OutsideTrackSchedule"] = "",
    }));

    [Fact]
    public async Task Notify_containers_get_one_email_naming_every_new_image_of_the_day_and_no_update_job()
    {
        var (repositoryA, nameA) = await docker.RunPublishedAppAsync("notify-a", "notify");
        var (repositoryB, nameB) = await docker.RunPublishedAppAsync("notify-b", "notify");
        var idA = (await docker.Client.Containers.InspectContainerAsync(nameA)).ID;
        var digestA = await docker.PublishAsync(repositoryA, "stable", "1.1");
        var digestB = await docker.PublishAsync(repositoryB, "stable", "1.1");
        await using var service = Service();

        foreach (var (repository, digest, name) in new[] { (repositoryA, digestA, nameA), (repositoryB, digestB, nameB) })
        {
            var job = (await service.PostEventAsync(ServiceHost.DiunPayload($"{repository}:stable", digest, name))).GetProperty("jobs")[0];
            Assert.Equal("notified", job.GetProperty("decision").GetString());
            Assert.Equal("ignored", (await service.GetJsonAsync($"/api/jobs/{job.GetProperty("id").GetString()}")).GetProperty("state").GetString());
        }

        var sender = service.Services.GetRequiredService<DigestSender>();
        Assert.Equal(2, await sender.SendAsync(DigestDefinition.Notify, TestContext.Current.CancellationToken));
        var email = await _ses.WaitForAsync(_operator, e => e.Subject.StartsWith("Updates available", StringComparison.Ordinal), MailTimeout);
        foreach (var expected in new[] { nameA, nameB, $"{repositoryA}:stable", $"{repositoryB}:stable", digestA, digestB, "https://hub.docker.com" })
        {
            Assert.Contains(expected, email.Text, StringComparison.Ordinal);
        }

        Assert.Contains(nameA, email.Subject, StringComparison.Ordinal);
        Assert.Contains(nameB, email.Subject, StringComparison.Ordinal);

        // A second run (a repeated or caught-up schedule) has nothing new to say.
        Assert.Equal(0, await sender.SendAsync(DigestDefinition.Notify, TestContext.Current.CancellationToken));
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Single(await _ses.MailToAsync(_operator));

        // Nothing was updated, nothing waits.
        Assert.Equal(idA, (await docker.Client.Containers.InspectContainerAsync(nameA)).ID);
        foreach (var name in new[] { nameA, nameB })
        {
            var recorded = (await service.GetJsonAsync($"/api/jobs?container={name}")).EnumerateArray().ToList();
            Assert.Single(recorded);
            Assert.All(recorded, job => Assert.Equal("ignored", job.GetProperty("state").GetString()));
        }
    }

    [Fact]
    public async Task The_weekly_digest_names_the_outside_track_versions_of_manual_containers_once()
    {
        await using var service = Service();
        _ = service.Services; // starts the host: the journal is migrated
        var jobs = service.Services.GetRequiredService<JobStore>();
        var now = DateTimeOffset.UtcNow;
        var repository = docker.Repository("track");
        var manual = docker.Name("track-manual");
        var automatic = docker.Name("track-automatic");
        var update = new UpdateEvent("new", "docker", $"{repository}:2.0.0", "sha256:" + new string('2', 64), "myserver", "https://hub.docker.com/r/example/app", null, [manual]);
        await jobs.RecordEventAsync(new EventRecord(now, update),
        [
            new UpdateDecision(manual, null, Policies.Manual, Decision.IgnoredOutsideTrack, JobState.Ignored, $"{repository}:1.4.0", null, "2.0.0 is outside the minor track"),
            new UpdateDecision(automatic, null, Policies.Automatic, Decision.IgnoredOutsideTrack, JobState.Ignored, $"{repository}:1.4.0", null, "2.0.0 is outside the minor track"),
        ], TestContext.Current.CancellationToken);

        var sender = service.Services.GetRequiredService<DigestSender>();
        Assert.Equal(1, await sender.SendAsync(DigestDefinition.OutsideTrack, TestContext.Current.CancellationToken));
        Assert.Equal(0, await sender.SendAsync(DigestDefinition.OutsideTrack, TestContext.Current.CancellationToken));
        Assert.Equal(0, await sender.SendAsync(DigestDefinition.Notify, TestContext.Current.CancellationToken));

        var email = await _ses.WaitForAsync(_operator, e => e.Subject.StartsWith("Newer versions outside the track you chose", StringComparison.Ordinal), MailTimeout);
        Assert.Contains(manual, email.Text, StringComparison.Ordinal);
        Assert.Contains($"{repository}:2.0.0", email.Text, StringComparison.Ordinal);
        Assert.Contains($"{repository}:1.4.0", email.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(automatic, email.Text, StringComparison.Ordinal);
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Single(await _ses.MailToAsync(_operator));
    }
}
