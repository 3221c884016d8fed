#nullable disable warnings
using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Amazon.S3.Model;
using Docker.DotNet.Models;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Backups;

/// <summary>
/// Sets someone with write access to the store planted or edited: each is refused with a clear
/// message, and nothing is written to any container (trees, running state and start times unchanged).
/// </summary>
[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed class PlantedSetTests(DockerFixture docker) : S3DockerTest
{
    protected override DockerFixture Docker => docker;

    public static TheoryData<string, string> Plants() => new()
    {
        { "Local", "other-container" }, { "S3", "other-container" },
        { "Local", "other-path" }, { "S3", "other-path" },
        { "Local", "other-set-id" }, { "S3", "other-set-id" },
        { "Local", "unsigned" }, { "S3", "unsigned" },
        { "Local", "tampered-object" }, { "S3", "tampered-object" },
    };

    [Theory]
    [MemberData(nameof(Plants))]
    public async Task A_planted_or_edited_set_is_refused_and_nothing_is_written_to_any_container(string store, string plant)
    {
        var source = await RunAppWithVolumesAsync("plant-src", "/data", "/data");
        var victim = await RunAppWithVolumesAsync("plant-victim", "/data", "/data");
        await docker.WriteFilesAsync(source, "/data", new Dictionary<string, byte[]> { ["app/state.txt"] = BackupContainers.Text("source v1\n") });
        await docker.WriteFilesAsync(victim, "/data", new Dictionary<string, byte[]> { ["app/state.txt"] = BackupContainers.Text("victim v1\n") });
        await using var service = new ServiceHost(Data, Settings(store));
        var setId = await BackupAsync(service, docker.Name("plant-src"));
        var files = new StoreFiles(store, Data, S3);
        var manifest = await files.ManifestAsync(setId);
        var objectName = manifest["objects"]![0]!["name"]!.GetValue<string>();

        var expected = plant switch
        {
            "other-container" => await RetargetAsync(files, setId, objectName, docker.Name("plant-src"), docker.Name("plant-victim")),
            "other-path" => await EditAsync(files, setId, m =>
            {
                m["objects"]![0]!["target"] = "/etc";
                m["objects"]![0]!["source"] = $"{docker.Name("plant-src")}:/etc";
                return m;
            }),
            "other-set-id" => await EditAsync(files, setId, m =>
            {
                m["id"] = setId[..^6] + "ffffff";
                return m;
            }, "names set"),
            "unsigned" => await EditAsync(files, setId, m =>
            {
                m.AsObject().Remove("signature");
                return m;
            }, "is not signed"),
            _ => await TamperAsync(files, setId, objectName),
        };
        var before = await StateAsync(source, victim);

        var restoreId = plant == "other-container" ? setId.Replace(docker.Name("plant-src"), docker.Name("plant-victim"), StringComparison.Ordinal) : setId;

        var response = await PostgresBackupTests.Admin(service).PostAsync($"/api/backups/{restoreId}/restore", null, TestContext.Current.CancellationToken);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);

        Assert.True(response.StatusCode == HttpStatusCode.Conflict, problem.ToString());
        Assert.Contains(expected, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(before, await StateAsync(source, victim));
    }

    [Fact]
    public async Task A_signed_set_is_refused_once_its_container_no_longer_carries_the_label_for_the_path()
    {
        var name = docker.Name("relabel");
        var first = await RunAppWithVolumesAsync("relabel", "/data", "/data");
        await using var service = new ServiceHost(Data, Settings("Local"));
        var setId = await BackupAsync(service, name);
        await docker.Client.Containers.RemoveContainerAsync(first, new ContainerRemoveParameters { Force = true });
        var second = await RunAppWithVolumesAsync("relabel", "/config", "/data");
        await docker.WriteFilesAsync(second, "/data", new Dictionary<string, byte[]> { ["app/state.txt"] = BackupContainers.Text("today\n") });
        var before = await StateAsync(second);

        var response = await PostgresBackupTests.Admin(service).PostAsync($"/api/backups/{setId}/restore", null, TestContext.Current.CancellationToken);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);

        Assert.True(response.StatusCode == HttpStatusCode.Conflict, problem.ToString());
        Assert.Contains($"path /data of container {name}, but the labels of {name} and its backup.with containers do not ask for it today (they ask for: {name}:/config)", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(before, await StateAsync(second));
    }

    [Fact]
    public async Task A_set_of_the_previous_version_is_restored_only_after_the_operator_adopts_it_on_the_server()
    {
        var id = await RunAppWithVolumesAsync("adopt", "/data", "/data");
        await docker.WriteFilesAsync(id, "/data", new Dictionary<string, byte[]> { ["app/state.txt"] = BackupContainers.Text("backed up\n") });
        await using var service = new ServiceHost(Data, Settings("S3"));
        var setId = await BackupAsync(service, docker.Name("adopt"));
        // As the version before signed manifests and hashed object names wrote it.
        var files = new StoreFiles("S3", Data, S3);
        var legacyName = $"{docker.Name("adopt")}.data.tar.gz";
        var current = (await files.ManifestAsync(setId))["objects"]![0]!["name"]!.GetValue<string>();
        await files.WriteAsync(setId, legacyName, await files.ReadAsync(setId, current));
        await files.DeleteAsync(setId, current);
        await EditAsync(files, setId, m =>
        {
            m.AsObject().Remove("signature");
            m["objects"]![0]!["name"] = legacyName;
            return m;
        });
        await docker.WriteFilesAsync(id, "/data", new Dictionary<string, byte[]> { ["app/state.txt"] = BackupContainers.Text("changed\n") });

        var unconfirmed = await RunCommandAsync(["adopt", setId], stdin: "no\n");
        var refused = await PostgresBackupTests.Admin(service).PostAsync($"/api/backups/{setId}/restore", null, TestContext.Current.CancellationToken);
        var adopted = await RunCommandAsync(["adopt", setId], stdin: setId + "\n");
        var restored = await PostgresBackupTests.Admin(service).PostAsync($"/api/backups/{setId}/restore", null, TestContext.Current.CancellationToken);

        Assert.True(unconfirmed.ExitCode == 1, unconfirmed.Output);
        Assert.Contains("not confirmed: nothing was changed", unconfirmed.Output, StringComparison.Ordinal);
        Assert.Contains($"path /data in container {docker.Name("adopt")}", unconfirmed.Output, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.True(adopted.ExitCode == 0, adopted.Output);
        Assert.Contains($"adopted: set {setId} is signed by this installation", adopted.Output, StringComparison.Ordinal);
        Assert.True(restored.IsSuccessStatusCode, await restored.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        var tree = await docker.TreeAsync(id, "/data/app");
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(BackupContainers.Text("backed up\n"))), tree["app/state.txt"]);
    }

    private Dictionary<string, string> Settings(string store) =>
        store == "S3" ? S3.Settings() : new Dictionary<string, string> { ["Backups:Store"] = "Local", ["Backups:Schedule"] = "" };

    private static async Task<string> BackupAsync(ServiceHost service, string container)
    {
        var backup = await PostgresBackupTests.Admin(service).PostAsJsonAsync("/api/backups", new { containers = new[] { container } }, TestContext.Current.CancellationToken);
        var result = await backup.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
        Assert.True(backup.IsSuccessStatusCode, result.ToString());
        return result.GetProperty("sets")[0].GetProperty("id").GetString();
    }

    /// <summary>What a restore would change: the files and whether (and since when) each container runs.</summary>
    private async Task<string> StateAsync(params string[] containers)
    {
        var state = new List<string>();
        foreach (var container in containers)
        {
            var inspect = await docker.Client.Containers.InspectContainerAsync(container);
            state.Add($"{inspect.Name} running={inspect.State.Running} started={inspect.State.StartedAt}");
            state.AddRange((await docker.TreeAsync(container, "/data")).Select(entry => $"  {entry.Key} {entry.Value}"));
        }

        return string.Join('\n', state);
    }

    private static async Task<string> EditAsync(StoreFiles files, string setId, Func<JsonNode, JsonNode> edit, string expected = "does not carry this installation's signature")
    {
        var manifest = await files.ManifestAsync(setId);
        await files.WriteAsync(setId, "manifest.json", System.Text.Encoding.UTF8.GetBytes(edit(manifest).ToJsonString()));
        return expected;
    }

    /// <summary>The set copied under a new id in which every mention of its container names another one.</summary>
    private static async Task<string> RetargetAsync(StoreFiles files, string setId, string objectName, string from, string to)
    {
        var newId = setId.Replace(from, to, StringComparison.Ordinal);
        var manifest = (await files.ManifestAsync(setId)).ToJsonString().Replace(from, to, StringComparison.Ordinal);
        var newName = objectName.Replace(from, to, StringComparison.Ordinal);
        await files.WriteAsync(newId, newName, await files.ReadAsync(setId, objectName));
        await files.WriteAsync(newId, "manifest.json", System.Text.Encoding.UTF8.GetBytes(manifest));
        return "does not carry this installation's signature";
    }

    /// <summary>Other content in the object, and the manifest's size and checksum edited to match it.</summary>
    private static async Task<string> TamperAsync(StoreFiles files, string setId, string objectName)
    {
        using var tar = new MemoryStream();
        await using (var gzip = new GZipStream(tar, CompressionLevel.Fastest, leaveOpen: true))
        await using (var writer = new TarWriter(gzip, TarEntryFormat.Pax))
        {
            await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, "data/app/state.txt") { DataStream = new MemoryStream(BackupContainers.Text("planted\n")) });
        }

        var bytes = tar.ToArray();
        await files.WriteAsync(setId, objectName, bytes);
        return await EditAsync(files, setId, m =>
        {
            m["objects"]![0]!["size"] = bytes.Length;
            m["objects"]![0]!["sha256"] = Convert.ToHexStringLower(SHA256.HashData(bytes));
            return m;
        });
    }

    /// <summary>dotnet WebhookUpdater.dll with the service's settings, as an operator runs it on the server.</summary>
    private async Task<(int ExitCode, string Output)> RunCommandAsync(string[] args, string stdin)
    {
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "WebhookUpdater.dll"), .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        start.Environment["DOCKER_HOST"] = TestEnvironment.DockerHost;
        start.Environment["Store__DataDirectory"] = Data;
        start.Environment["Backups__SigningKey"] = ServiceHost.BackupSigningKey;
        foreach (var (key, value) in S3.Settings())
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        using var process = Process.Start(start);
        await process.StandardInput.WriteAsync(stdin);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}

/// <summary>The store's objects, read and written behind the service's back (as anyone with write access could).</summary>
internal sealed class StoreFiles(string store, string data, S3Server s3)
{
    private const string Prefix = "wu/backups";

    public async Task<JsonNode> ManifestAsync(string setId) => JsonNode.Parse(await ReadAsync(setId, "manifest.json"))!;

    public async Task<byte[]> ReadAsync(string setId, string name)
    {
        if (store != "S3")
        {
            return await File.ReadAllBytesAsync(Path.Combine(data, "backups", setId, name));
        }

        using var response = await s3.Client.GetObjectAsync(s3.Bucket, $"{Prefix}/{setId}/{name}");
        using var copy = new MemoryStream();
        await response.ResponseStream.CopyToAsync(copy);
        return copy.ToArray();
    }

    public async Task DeleteAsync(string setId, string name)
    {
        if (store != "S3")
        {
            File.Delete(Path.Combine(data, "backups", setId, name));
            return;
        }

        await s3.Client.DeleteObjectAsync(s3.Bucket, $"{Prefix}/{setId}/{name}");
    }

    public async Task WriteAsync(string setId, string name, byte[] content)
    {
        if (store != "S3")
        {
            Directory.CreateDirectory(Path.Combine(data, "backups", setId));
            await File.WriteAllBytesAsync(Path.Combine(data, "backups", setId, name), content);
            return;
        }

        await s3.Client.PutObjectAsync(new PutObjectRequest { BucketName = s3.Bucket, Key = $"{Prefix}/{setId}/{name}", InputStream = new MemoryStream(content), UseChunkEncoding = false });
    }
}
