#nullable disable warnings
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Backups;

/// <summary>
/// Gitea and its database as one set: a stand-in that writes to /data while a writer adds a row to
/// PostgreSQL before each file, as Gitea records a push in its database and in its repositories.
/// Taken at one moment, the set's dump holds the same numbers as its /data, or one row more (the
/// row whose file was not written yet).
/// </summary>
[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed class GiteaSetTests(DockerFixture docker) : S3DockerTest
{
    protected override DockerFixture Docker => docker;

    /// <summary>A pair written after the set: neither half may keep it.</summary>
    private const int Marker = 1000000;

    [Fact]
    public async Task A_failed_Gitea_update_rolls_back_the_image_and_restores_data_and_database_from_one_moment()
    {
        var (database, name, createdId, port) = await StartStackAsync("upd");
        var digest = await docker.PublishAsync(docker.Repository("gset-upd"), "stable", "1.1");
        var newImage = await docker.ImageIdAsync(TestEnvironment.AppImage("1.1"));
        await using var service = new ServiceHost(Data, FastGateOnS3());

        using var writer = new PairWriter(docker, database, port);
        await writer.WaitForRowsAsync(3);
        var answer = await service.PostEventAsync(ServiceHost.DiunPayload($"{docker.Repository("gset-upd")}:stable", digest, name));
        var jobId = answer.GetProperty("jobs")[0].GetProperty("id").GetString();
        await JobWaiter.WaitAsync(service.GetJsonAsync, jobId, TimeSpan.FromSeconds(180), HasStep("backup"));
        await writer.StopAsync();

        // The new version runs: it "migrates" the database and writes to /data, as a new Gitea does.
        await JobWaiter.WaitAsync(service.GetJsonAsync, jobId, TimeSpan.FromSeconds(120), HasStep("health-gate"));
        var running = await docker.Client.Containers.InspectContainerAsync(name);
        Assert.Equal(newImage, running.Image);
        Containers.Add(running.ID);
        await docker.PsqlAsync(database, "forge", $"CREATE TABLE migrated_v2 (x int); INSERT INTO pairs VALUES ({Marker})");
        await WriteFileAsync(name, $"/data/queues/{Marker}");

        var finished = await JobWaiter.WaitAsync(service.GetJsonAsync, jobId, TimeSpan.FromSeconds(180));

        Assert.True(finished.GetProperty("state").GetString() == "rolled_back", JobWaiter.Timeline(finished));
        Assert.Equal("rolled back, healthy", finished.GetProperty("outcome").GetString());
        var old = await docker.Client.Containers.InspectContainerAsync(name);
        Assert.Equal(createdId, old.ID);
        Assert.True(old.State.Running && !old.State.Paused);

        // The update's set holds both halves.
        var set = await SetAsync(service, finished.GetProperty("backupId").GetString());
        Assert.Contains(set.GetProperty("contents").EnumerateArray(), o => o.GetProperty("container").GetString() == name && o.GetProperty("target").GetString() == "/data");
        Assert.Contains(set.GetProperty("contents").EnumerateArray(), o => o.GetProperty("container").GetString() == database && o.GetProperty("type").GetString() == "pg_dump");

        var (rows, files) = await PairAsync(database, name);
        AssertOneMoment(rows, files);
        Assert.Equal("0", await docker.PsqlAsync(database, "forge", "SELECT count(*) FROM pg_tables WHERE tablename = 'migrated_v2'"));
    }

    [Fact]
    public async Task The_stacks_backup_takes_data_and_database_at_one_moment_and_restores_both()
    {
        var (database, name, _, port) = await StartStackAsync("daily");
        await using var service = new ServiceHost(Data, FastGateOnS3());
        var client = Admin(service);

        JsonElement answer;
        using (var writer = new PairWriter(docker, database, port))
        {
            await writer.WaitForRowsAsync(3);
            var response = await client.PostAsync("/api/backups", new StringContent($$"""{"containers":["{{name}}"]}""", Encoding.UTF8, "application/json"));
            answer = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
            Assert.True(response.IsSuccessStatusCode, answer.ToString());
            await writer.StopAsync();
        }

        var set = answer.GetProperty("sets")[0];
        Assert.Equal(2, set.GetProperty("objects").GetArrayLength());
        Assert.Equal(name, set.GetProperty("container").GetString());
        // Written after the set: both must be gone after the restore.
        await docker.PsqlAsync(database, "forge", $"INSERT INTO pairs VALUES ({Marker})");
        await WriteFileAsync(name, $"/data/queues/{Marker}");

        var restore = await client.PostAsync($"/api/backups/{set.GetProperty("id").GetString()}/restore", null);
        var restored = await restore.Content.ReadAsStringAsync();
        Assert.True(restore.IsSuccessStatusCode, restored);

        var (rows, files) = await PairAsync(database, name);
        AssertOneMoment(rows, files);
        Assert.True((await docker.Client.Containers.InspectContainerAsync(name)).State.Running);
    }

    /// <summary>
    /// Each file i is written after row i committed, so a set of one moment holds rows 1..n and files
    /// 1..n or 1..n-1; a set whose halves are minutes or seconds apart holds several rows more.
    /// </summary>
    private static void AssertOneMoment(IReadOnlyList<int> rows, IReadOnlyList<int> files)
    {
        // The marker written after the set is gone from both halves.
        Assert.DoesNotContain(Marker, rows);
        Assert.DoesNotContain(Marker, files);
        Assert.True(rows.Count >= 3, "the pairs written before the backup are missing");
        Assert.Equal(Enumerable.Range(1, rows.Count), rows);
        Assert.Equal(Enumerable.Range(1, files.Count), files);
        Assert.True(rows.Count - files.Count is 0 or 1,
            $"the set is not of one moment: the dump holds rows 1..{rows.Count}, /data files 1..{files.Count}");
    }

    /// <summary>The pair with 64 MiB in /data, as a Gitea's repositories take most of it.</summary>
    private async Task<(string Database, string Name, string Id, int Port)> StartStackAsync(string role)
    {
        var (database, _, name, id, port) = await RunGiteaPairAsync($"gset-{role}", "CREATE TABLE pairs (n int PRIMARY KEY)", gateSeconds: 20);
        // The archive reads queues/ before repositories (lexical order): a copy that is not held still
        // lets the writer go on for as long as the pack takes.
        var (exit, _, error) = await docker.ExecAsync(name, ["sh", "-c", "mkdir -p /data/queues && dd if=/dev/urandom of=/data/repositories.pack bs=1048576 count=64 2>/dev/null"]);
        Assert.True(exit == 0, error);
        return (database, name, id, port);
    }

    private static HttpClient Admin(ServiceHost service)
    {
        var client = service.CreateClient();
        client.Timeout = TimeSpan.FromMinutes(5);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ServiceHost.AdminToken);
        return client;
    }

    private static Func<JsonElement, bool> HasStep(string step) =>
        job => job.GetProperty("steps").EnumerateArray().Any(s => s.GetProperty("name").GetString() == step);

    private static async Task<JsonElement> SetAsync(ServiceHost service, string id)
    {
        var page = await service.GetJsonAsync("/api/backups?limit=1000");
        return page.EnumerateArray().Single(s => s.GetProperty("id").GetString() == id);
    }

    private async Task WriteFileAsync(string container, string path)
    {
        var (exit, _, error) = await docker.ExecAsync(container, ["sh", "-c", $"echo written > {path}"]);
        Assert.True(exit == 0, error);
    }

    private async Task<(IReadOnlyList<int> Rows, IReadOnlyList<int> Files)> PairAsync(string database, string container)
    {
        var rows = (await docker.PsqlAsync(database, "forge", "SELECT n FROM pairs ORDER BY n"))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList();
        var (_, listing, _) = await docker.ExecAsync(container, ["ls", "/data/queues"]);
        var files = listing.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).Order().ToList();
        return (rows, files);
    }

    /// <summary>
    /// Writes pairs 1, 2, 3…: row n into the database, then file n into the stand-in's /data through
    /// its HTTP port. Never by docker exec: on dockerd 20.10 an exec started just as the container is
    /// paused hangs in the frozen cgroup and wedges the engine's look-ups of that container.
    /// </summary>
    private sealed class PairWriter : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();

        private readonly Task<int> _loop;

        private int _rows;

        public PairWriter(DockerFixture docker, string database, int port)
        {
            _loop = Task.Run(async () =>
            {
                // Long enough for any pause: the request waits for it to end, as Gitea's requests do.
                using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(5) };
                var n = 0;
                while (!_stop.IsCancellationRequested)
                {
                    n++;
                    await docker.PsqlAsync(database, "forge", $"INSERT INTO pairs VALUES ({n})");
                    Volatile.Write(ref _rows, n);
                    while (!_stop.IsCancellationRequested)
                    {
                        try
                        {
                            using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/cgi-bin/write?n={n}"));
                            if (response.IsSuccessStatusCode)
                            {
                                break;
                            }
                        }
                        catch (HttpRequestException)
                        {
                            // Nothing listens while the container is being replaced.
                        }

                        await Task.Delay(20);
                    }
                }

                return n;
            });
        }

        public async Task WaitForRowsAsync(int rows)
        {
            while (Volatile.Read(ref _rows) < rows)
            {
                Assert.False(_loop.IsCompleted, "the writer stopped");
                await Task.Delay(20);
            }
        }

        /// <summary>Stops after the current pair (or its row, when the container went away); returns how many rows were written.</summary>
        public async Task<int> StopAsync()
        {
            await _stop.CancelAsync();
            return await _loop;
        }

        public void Dispose()
        {
            _stop.Cancel();
            _stop.Dispose();
        }
    }
}
