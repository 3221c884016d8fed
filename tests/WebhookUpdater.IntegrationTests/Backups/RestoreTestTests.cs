#nullable disable warnings
using Docker.DotNet.Models;
using Microsoft.Extensions.DependencyInjection;
using WebhookUpdater.Backups;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Backups;

/// <summary>The scheduled restore test against a real PostgreSQL and a real S3 (s3rver), failures mailed through the SES emulator.</summary>
[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed class RestoreTestTests(DockerFixture docker) : S3DockerTest
{
    protected override DockerFixture Docker => docker;

    private readonly SesEmulator _ses = new();

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

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private async Task<IList<ContainerListResponse>> ThrowawaysOfAsync(string container) =>
        (await docker.Client.Containers.ListContainersAsync(new ContainersListParameters { All = true }, Cancel))
            .Where(c => c.Names.Any(n => n.TrimStart('/').StartsWith(container + "-restore-test-", StringComparison.Ordinal)))
            .ToList();

    [Fact]
    public async Task The_latest_set_of_a_database_restores_into_a_throwaway_container_and_a_damaged_one_fails_and_emails()
    {
        var name = docker.Name("pg-restoretest");
        Containers.Add(await docker.RunPostgresAsync(name, "forge"));
        await docker.PsqlAsync(name, "forge", "CREATE TABLE items AS SELECT g AS id, md5(g::text) AS body FROM generate_series(1, 20000) g; CREATE TABLE tags (id int)");
        var to = SesEmulator.NewAddress("restore-test");
        await using var service = new ServiceHost(Data, _ses.ServiceSettings(to, S3.Settings()));
        var backup = await service.Services.GetRequiredService<BackupRunner>().RunAsync(BackupKinds.Manual, [name], Cancel);
        Assert.True(backup.Succeeded, string.Join("; ", backup.Failures));
        var tester = service.Services.GetRequiredService<RestoreTester>();

        var good = await tester.RunAsync(Cancel);

        var passed = Assert.Single(good.Results);
        Assert.True(passed.Passed, passed.Detail);
        Assert.Equal((name, "forge", 2, backup.Sets[0].Id), (passed.Container, passed.Database, passed.Tables, passed.SetId));
        Assert.Empty(await ThrowawaysOfAsync(name));

        // A newer set whose dump is cut in half (its manifest's sha256 is of what was stored): pg_restore fails.
        var store = service.Services.GetRequiredService<IBackupStore>();
        var dump = backup.Sets[0].Objects.Single();
        using var whole = new MemoryStream();
        await using (var original = await store.OpenAsync(backup.Sets[0].Id, dump.Name, Cancel))
        {
            await original.CopyToAsync(whole, Cancel);
        }

        var damagedId = BackupNames.NewSetId(DateTimeOffset.UtcNow.AddMinutes(1), BackupKinds.Manual, name);
        var stored = await store.PutAsync(damagedId, dump.Name, dump.Source, new MemoryStream(whole.ToArray()[..(int)(whole.Length / 2)]), Cancel);
        await store.CompleteAsync(backup.Sets[0] with { Id = damagedId, CreatedAt = DateTimeOffset.UtcNow, Objects = [dump with { Size = stored.Size, Sha256 = stored.Sha256 }] }, Cancel);

        var bad = await tester.RunAsync(Cancel);

        var failed = Assert.Single(bad.Results);
        Assert.False(failed.Passed);
        Assert.Equal(damagedId, failed.SetId);
        Assert.Contains("pg_restore", failed.Detail, StringComparison.Ordinal);
        Assert.Empty(await ThrowawaysOfAsync(name));
        var email = await _ses.WaitForAsync(to, e => e.Subject.StartsWith("Restore test failed", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        Assert.Contains($"{name}/forge", email.Subject, StringComparison.Ordinal);
        Assert.Contains(damagedId, email.Text, StringComparison.Ordinal);

        // The live database was never touched.
        Assert.Equal("20000", await docker.PsqlAsync(name, "forge", "SELECT count(*) FROM items"));
    }
}
