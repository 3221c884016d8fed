#nullable disable warnings
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using WebhookUpdater.Backups;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Backups;

/// <summary>Backups of a real PostgreSQL to a real S3 (s3rver), and restores of them.</summary>
[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed class PostgresBackupTests(DockerFixture docker) : S3DockerTest
{
    protected override DockerFixture Docker => docker;

    private const string Checksum = "SELECT count(*) || ':' || md5(string_agg(id::text || ':' || body, ',' ORDER BY id)) FROM items";
    internal static HttpClient Admin(ServiceHost service)
    {
        var client = service.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ServiceHost.AdminToken);
        client.Timeout = TimeSpan.FromMinutes(5);
        return client;
    }

    [Fact]
    public async Task A_daily_backup_of_100k_rows_restores_after_the_database_was_dropped()
    {
        var name = docker.Name("pg-roundtrip");
        Containers.Add(await docker.RunPostgresAsync(name, "forge"));
        await docker.PsqlAsync(name, "forge", "CREATE TABLE items AS SELECT g AS id, md5(g::text) || repeat('x', g % 50) AS body FROM generate_series(1, 100000) g; ALTER TABLE items ADD PRIMARY KEY (id)");
        var before = await docker.PsqlAsync(name, "forge", Checksum);
        Assert.StartsWith("100000:", before, StringComparison.Ordinal);
        await using var service = new ServiceHost(Data, S3.Settings());

        var daily = await service.Services.GetRequiredService<BackupRunner>().RunAsync(BackupKinds.Daily, [name], TestContext.Current.CancellationToken);

        Assert.True(daily.Succeeded, string.Join("; ", daily.Failures));
        var set = Assert.Single(daily.Sets);
        var dump = Assert.Single(set.Objects);
        Assert.Equal(BackupObjectTypes.PostgresDump, dump.Type);
        Assert.Equal("forge", dump.Target);
        Assert.Contains($"wu/backups/{set.Id}/manifest.json", await S3.KeysAsync());
        var listed = (await service.GetJsonAsync("/api/backups")).EnumerateArray().Single(s => s.GetProperty("id").GetString() == set.Id);
        Assert.Equal("complete", listed.GetProperty("state").GetString());
        Assert.Equal("daily", listed.GetProperty("kind").GetString());

        await docker.PsqlAsync(name, "postgres", "DROP DATABASE forge");
        Assert.Equal("0", await docker.PsqlAsync(name, "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'forge'"));

        var dryRun = await Admin(service).PostAsync($"/api/backups/{set.Id}/restore?dryRun=true", null, TestContext.Current.CancellationToken);
        Assert.Equal(System.Net.HttpStatusCode.OK, dryRun.StatusCode);
        Assert.Equal("0", await docker.PsqlAsync(name, "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'forge'"));

        var restore = await Admin(service).PostAsync($"/api/backups/{set.Id}/restore", null, TestContext.Current.CancellationToken);

        var report = await restore.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
        Assert.True(restore.IsSuccessStatusCode, report.ToString());
        Assert.True(report.GetProperty("succeeded").GetBoolean(), report.ToString());
        Assert.Equal(before, await docker.PsqlAsync(name, "forge", Checksum));
    }

    [Fact]
    public async Task Each_backup_applies_retention_and_keeps_the_newest_sets()
    {
        var name = docker.Name("pg-retention");
        Containers.Add(await docker.RunPostgresAsync(name, "forge"));
        var settings = S3.Settings();
        settings["Backups:KeepManual"] = "1";
        await using var service = new ServiceHost(Data, settings);
        var runner = service.Services.GetRequiredService<BackupRunner>();

        var first = await runner.RunAsync(BackupKinds.Manual, [name], TestContext.Current.CancellationToken);
        var second = await runner.RunAsync(BackupKinds.Manual, [name], TestContext.Current.CancellationToken);

        Assert.True(first.Succeeded && second.Succeeded, string.Join("; ", first.Failures.Concat(second.Failures)));
        var sets = (await service.GetJsonAsync("/api/backups")).EnumerateArray().Select(s => s.GetProperty("id").GetString()).ToList();
        Assert.Equal([second.Sets[0].Id], sets);
    }

    [Fact]
    public async Task A_failing_pg_dump_leaves_no_complete_set_and_says_why()
    {
        var name = docker.Name("pg-baddb");
        Containers.Add(await docker.RunPostgresAsync(name, "forge", new Dictionary<string, string> { ["backup.postgres.database"] = "no_such_db" }));
        await using var service = new ServiceHost(Data, S3.Settings());

        var result = await service.Services.GetRequiredService<BackupRunner>().RunAsync(BackupKinds.Manual, [name], TestContext.Current.CancellationToken);

        var failure = Assert.Single(result.Failures);
        Assert.Contains("pg_dump of database no_such_db", failure.Error, StringComparison.Ordinal);
        Assert.Contains("does not exist", failure.Error, StringComparison.Ordinal);
        Assert.DoesNotContain(await S3.KeysAsync(), key => key.EndsWith("manifest.json", StringComparison.Ordinal));
    }
}
