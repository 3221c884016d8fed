#nullable disable warnings
using Docker.DotNet.Models;
using WebhookUpdater.IntegrationTests.Support;
using WebhookUpdater.IntegrationTests.Updates;

namespace WebhookUpdater.IntegrationTests.Backups;

/// <summary>A test against the real engine that keeps its backup sets on a bucket of its own on the S3 server.</summary>
public abstract class S3DockerTest : DockerTest
{
    private protected S3Server S3 { get; private set; }

    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        S3 = await S3Server.StartAsync();
    }

    public override async ValueTask DisposeAsync()
    {
        if (S3 is not null)
        {
            await S3.DisposeAsync();
        }

        await base.DisposeAsync();
        GC.SuppressFinalize(this);
    }

    /// <summary>The service's settings for a quick health gate, with its backups on this test's bucket.</summary>
    protected Dictionary<string, string> FastGateOnS3()
    {
        var settings = UpdatePipelineTests.FastGate;
        foreach (var (key, value) in S3.Settings())
        {
            settings[key] = value;
        }

        return settings;
    }

    protected sealed record GiteaPair(string Database, string Repository, string Name, string Id, int Port);

    /// <summary>
    /// PostgreSQL (database forge, made with <paramref name="schema"/>) and the test app 1.0 as
    /// <c>{Repository}:stable</c>, labelled as the shipped compose file labels gitea: backed up with
    /// the database and restored on rollback. Only 1.0 passes its health command, so a newer
    /// version fails the gate after <paramref name="gateSeconds"/>.
    /// </summary>
    protected async Task<GiteaPair> RunGiteaPairAsync(string role, string schema, int gateSeconds)
    {
        var database = Docker.Name($"{role}-pg");
        Containers.Add(await Docker.RunPostgresAsync(database, "forge"));
        await Docker.PsqlAsync(database, "forge", schema);
        var repository = Docker.Repository(role);
        await Docker.PublishAsync(repository, "stable", "1.0");
        var name = Docker.Name($"{role}-gitea");
        var port = DockerFixture.FreePort();
        var created = await Docker.Client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Name = name,
            Image = $"{repository}:stable",
            Env = [$"APP_PORT={port}"],
            Labels = Docker.RunLabels(new Dictionary<string, string>
            {
                ["update.policy"] = "automatic",
                ["backup.paths"] = "/data",
                ["backup.with"] = database,
                ["backup.restore-on-rollback"] = "true",
                ["update.health.cmd"] = "test \"$APP_VERSION\" = 1.0",
                ["update.health.timeout"] = gateSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
            }),
            HostConfig = new HostConfig { NetworkMode = "host" },
        });
        Containers.Add(created.ID);
        await Docker.Client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters());
        await Docker.WaitHealthyAsync(created.ID, TimeSpan.FromSeconds(30));
        return new GiteaPair(database, repository, name, created.ID, port);
    }
}
