#nullable disable warnings
using Docker.DotNet.Models;
using WebhookUpdater.IntegrationTests.Support;
using WebhookUpdater.IntegrationTests.Updates;

namespace WebhookUpdater.IntegrationTests.Backups;

/// <summary>A pre-update backup that S3 breaks: the update must not happen.</summary>
[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed class BackupFailureJobTests(DockerFixture docker) : DockerTest
{
    protected override DockerFixture Docker => docker;


    [Theory]
    [InlineData(S3Fault.PartFails, "500 InternalError")]
    [InlineData(S3Fault.PartHangs, "timed out")]
    [InlineData(S3Fault.WrongSize, "S3 reports 1 bytes")]
    [InlineData(S3Fault.WrongContent, "read back as")]
    public async Task A_backup_that_S3_breaks_fails_the_job_before_anything_changes(S3Fault fault, string why)
    {
        var repository = docker.Repository($"s3fault-{fault.ToString().ToLowerInvariant()}");
        await docker.PublishAsync(repository, "stable", "1.0");
        var name = docker.Name($"s3fault-{fault.ToString().ToLowerInvariant()}");
        var created = await docker.Client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Name = name,
            Image = $"{repository}:stable",
            Env = [$"APP_PORT={DockerFixture.FreePort()}"],
            Labels = docker.RunLabels(new Dictionary<string, string> { ["update.policy"] = "automatic", ["backup.paths"] = "/data" }),
            HostConfig = new HostConfig { NetworkMode = "host" },
        });
        Containers.Add(created.ID);
        await docker.Client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters());
        await docker.WaitHealthyAsync(created.ID, TimeSpan.FromSeconds(30));
        // Incompressible data, so the gzipped archive needs more than one 5 MiB part.
        await docker.WriteFilesAsync(created.ID, "/data", new Dictionary<string, byte[]> { ["repo.pack"] = S3BackupStoreTests.RandomBytes(12 * 1024 * 1024) });
        var digest = await docker.PublishAsync(repository, "stable", "1.1");
        using var s3 = new FaultyS3(fault);
        await using var credentials = await S3Server.StartAsync(createBucket: false);
        var settings = UpdatePipelineTests.FastGate;
        settings["Backups:Store"] = "S3";
        settings["Backups:Bucket"] = "backups";
        settings["Backups:ServiceUrl"] = s3.Url;
        settings["Backups:ForcePathStyle"] = "true";
        settings["Backups:UseChunkEncoding"] = "false";
        settings["Backups:PartSizeMiB"] = "5";
        settings["Backups:RequestTimeout"] = "00:00:02";
        settings["Backups:MaxRetries"] = "1";
        settings["Backups:Profile"] = S3Server.ProfileName;
        settings["Backups:ProfilesLocation"] = credentials.ProfilesLocation;
        settings["Backups:Schedule"] = "";
        await using var service = new ServiceHost(Data, settings);

        var answer = await service.PostEventAsync(ServiceHost.DiunPayload($"{repository}:stable", digest, name));
        var job = await JobWaiter.WaitAsync(service.GetJsonAsync, answer.GetProperty("jobs")[0].GetProperty("id").GetString(), TimeSpan.FromSeconds(120));

        Assert.True(job.GetProperty("state").GetString() == "failed", JobWaiter.Timeline(job));
        Assert.Equal("nothing changed", job.GetProperty("outcome").GetString());
        Assert.StartsWith("backup failed, nothing was changed", job.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Contains(why, job.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Equal(["check", "backup", "notify"], job.GetProperty("steps").EnumerateArray().Select(s => s.GetProperty("name").GetString()));
        Assert.False(s3.SawManifest, string.Join("\n", s3.Requests));
        var uploadFailed = fault is S3Fault.PartFails or S3Fault.PartHangs;
        Assert.Equal(uploadFailed, s3.SawAbort);
        Assert.Equal(!uploadFailed, s3.SawComplete);
        var container = await docker.Client.Containers.InspectContainerAsync(name);
        Assert.Equal(created.ID, container.ID);
        Assert.True(container.State.Running);
        Assert.Equal(0, container.RestartCount);
        Assert.Equal(await docker.ImageIdAsync(TestEnvironment.AppImage("1.0")), container.Image);
    }
}
