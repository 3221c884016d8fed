#nullable disable warnings
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Docker.DotNet.Models;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Backups;

/// <summary>
/// A 2 GB volume goes out to a set and back through the API in full: archive transfers are
/// bounded by progress, not by the Docker client's request timeout.
/// </summary>
[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed class LargeRestoreTests(DockerFixture docker) : DockerTest
{
    protected override DockerFixture Docker => docker;

    [Fact]
    public async Task A_2_GB_volume_is_backed_up_and_restored_through_the_API_whole_far_past_the_request_timeout()
    {
        // Minutes of disk and CPU on a shared 2-core machine: one engine is enough for a transfer the client makes the same way on both.
        Assert.SkipWhen(TestEnvironment.Engine == "B", "the 2 GB restore runs on engine A only");
        var id = await RunAppWithVolumesAsync("big", "/data", "/data");
        // Random bytes: the gzip stays ~2 GB, so the restore's upload is a 2 GB transfer too.
        var (exit, filled, error) = await docker.ExecAsync(id, ["sh", "-c", "dd if=/dev/urandom of=/data/big.bin bs=1M count=2048 2>/dev/null && sha256sum /data/big.bin && ls /data"]);
        Assert.True(exit == 0, error);
        // A request timeout far below each transfer's length: a client-wide timeout would cut them off.
        await using var service = new ServiceHost(Data, new() { ["Docker:RequestTimeout"] = "00:00:03", ["Docker:StallTimeout"] = "00:00:30" });
        using var admin = PostgresBackupTests.Admin(service);
        admin.Timeout = TimeSpan.FromMinutes(20);
        var clock = Stopwatch.StartNew();

        var backup = await admin.PostAsJsonAsync("/api/backups", new { containers = new[] { docker.Name("big") } }, TestContext.Current.CancellationToken);
        var result = await backup.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
        Assert.True(backup.IsSuccessStatusCode, result.ToString());
        var set = result.GetProperty("sets")[0];
        var backedUp = clock.Elapsed;
        Assert.True(set.GetProperty("objects")[0].GetProperty("size").GetInt64() > 2L << 30, set.ToString());
        (exit, _, error) = await docker.ExecAsync(id, ["sh", "-c", "echo changed > /data/big.bin && echo added > /data/added.txt"]);
        Assert.True(exit == 0, error);

        clock.Restart();
        var restore = await admin.PostAsync($"/api/backups/{set.GetProperty("id").GetString()}/restore", null, TestContext.Current.CancellationToken);
        var restored = clock.Elapsed;

        Assert.True(restore.IsSuccessStatusCode, await restore.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        var (_, after, _) = await docker.ExecAsync(id, ["sh", "-c", "sha256sum /data/big.bin; ls /data"]);
        Assert.Equal(filled.Trim(), after.Trim());
        Assert.DoesNotContain("added.txt", after, StringComparison.Ordinal);
        Assert.True((await docker.Client.Containers.InspectContainerAsync(id)).State.Running);
        TestContext.Current.SendDiagnosticMessage($"2 GiB backed up in {backedUp.TotalSeconds:0.0} s, restored in {restored.TotalSeconds:0.0} s");
        Assert.True(backedUp > TimeSpan.FromSeconds(3) && restored > TimeSpan.FromSeconds(3), "the transfers were too fast to show that the request timeout no longer applies");
    }

}
