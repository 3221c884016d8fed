#nullable disable warnings
using System.Diagnostics;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.DependencyInjection;
using WebhookUpdater.Backups;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Backups;

/// <summary>A pg_dump that never finishes must not hold the backups: it is killed when it stops writing.</summary>
[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed class PostgresDeadlineTests(DockerFixture docker) : DockerTest
{
    protected override DockerFixture Docker => docker;

    private const int StallSeconds = 5;

    private const string Checksum = "SELECT count(*) || ':' || md5(string_agg(id::text || ':' || body, ',' ORDER BY id)) FROM items";

    /// <summary>Command lines of the container's processes that start with <paramref name="program"/> (Debian minbase has no ps).</summary>
    private async Task<int> ProcessCountAsync(string container, string program)
    {
        var (exitCode, stdout, stderr) = await docker.ExecAsync(container, ["/bin/sh", "-c", "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < \"$f\" 2>/dev/null; echo; done"]);
        Assert.True(exitCode == 0, stderr);
        return stdout.Split('\n').Count(line => line.StartsWith(program + " ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_pg_dump_blocked_by_a_table_lock_is_killed_at_the_stall_timeout_and_the_next_backup_runs_once_the_lock_is_gone()
    {
        var name = docker.Name("pg-locked");
        Containers.Add(await docker.RunPostgresAsync(name, "forge"));
        await docker.PsqlAsync(name, "forge", "CREATE TABLE items AS SELECT g AS id, md5(g::text) AS body FROM generate_series(1, 1000) g");
        var before = await docker.PsqlAsync(name, "forge", Checksum);
        // Another session holds the table for good, the way a long migration or a stuck transaction would.
        var locker = await docker.Client.Exec.CreateContainerExecAsync(name, new ContainerExecCreateParameters
        {
            Cmd = ["psql", "-U", "gitea", "-d", "forge", "-c", "BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(100000);"],
            AttachStdout = true,
            AttachStderr = true,
        });
        using var lockSession = await docker.Client.Exec.StartContainerExecAsync(locker.ID, new ContainerExecStartParameters());
        for (var i = 0; i < 100 && await docker.PsqlAsync(name, "forge", "SELECT count(*) FROM pg_locks WHERE relation = 'items'::regclass AND mode = 'AccessExclusiveLock' AND granted") != "1"; i++)
        {
            await Task.Delay(100);
        }

        await using var service = new ServiceHost(Data, new() { ["Docker:StallTimeout"] = $"00:00:{StallSeconds:00}" });
        var runner = service.Services.GetRequiredService<BackupRunner>();
        var clock = Stopwatch.StartNew();

        var blocked = await runner.RunAsync(BackupKinds.Manual, [name], TestContext.Current.CancellationToken);

        var took = clock.Elapsed;
        var failure = Assert.Single(blocked.Failures);
        Assert.Contains("pg_dump of database forge", failure.Error, StringComparison.Ordinal);
        Assert.Contains($"no output for {StallSeconds} s", failure.Error, StringComparison.Ordinal);
        Assert.Contains("killed inside the container", failure.Error, StringComparison.Ordinal);
        Assert.InRange(took, TimeSpan.FromSeconds(StallSeconds), TimeSpan.FromSeconds(StallSeconds + 15));
        Assert.Equal(0, await ProcessCountAsync(name, "pg_dump"));
        Assert.Empty((await service.GetJsonAsync("/api/backups")).EnumerateArray());

        await docker.PsqlAsync(name, "postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(100000)%' AND pid <> pg_backend_pid()");
        var next = await runner.RunAsync(BackupKinds.Manual, [name], TestContext.Current.CancellationToken);

        Assert.True(next.Succeeded, string.Join("; ", next.Failures.Select(f => f.Error)));
        var set = Assert.Single(next.Sets);
        Assert.True(Assert.Single(set.Objects).Size > 0);
        Assert.Equal(before, await docker.PsqlAsync(name, "forge", Checksum));
    }
}
