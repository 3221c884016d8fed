using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using WebhookUpdater.Backups;
using WebhookUpdater.Tests.Support;

namespace WebhookUpdater.Tests.Backups;

public sealed class BackupsApiTests
{
    /// <summary>
    /// The same binding and validator the host runs at start (ValidateOnStart), resolved from a
    /// container of its own: a WebApplicationFactory can lose the start-up exception in a race.
    /// </summary>
    private static string ValidationMessage(Dictionary<string, string?> settings)
    {
        var collection = new ServiceCollection()
            .AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(settings).Build())
            .AddLogging();
        collection.AddBackups();
        using var services = collection.BuildServiceProvider();
        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<BackupOptions>>().Value);
        return string.Join(" | ", error.Failures);
    }

    [Theory]
    [InlineData("get", "/api/backups")]
    [InlineData("post", "/api/backups")]
    [InlineData("post", "/api/backups/20240101-020000-daily-gitea-abcdef/restore")]
    public async Task Every_backup_endpoint_wants_the_admin_token(string method, string path)
    {
        await using var app = new TestApp();
        var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", TestApp.WebhookSecret);

        var response = method == "get" ? await client.GetAsync(path, TestContext.Current.CancellationToken) : await client.PostAsync(path, null, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task The_list_shows_complete_and_incomplete_sets_of_the_local_store()
    {
        await using var app = new TestApp();
        var folder = Path.Combine(app.DataDirectory, "backups");
        var complete = Directory.CreateDirectory(Path.Combine(folder, "20240102-020000-daily-gitea-aaaaaa")).FullName;
        await File.WriteAllTextAsync(Path.Combine(complete, "gitea.data.tar.gz"), "12345", TestContext.Current.CancellationToken);
        var manifest = new BackupManifest("20240102-020000-daily-gitea-aaaaaa", BackupKinds.Daily, new DateTimeOffset(2024, 1, 2, 2, 0, 0, TimeSpan.Zero), null, "gitea", null,
            [new BackupObject("gitea.data.tar.gz", "gitea:/data", 5, "abc", "gitea", BackupObjectTypes.Archive, "/data")]);
        await File.WriteAllTextAsync(Path.Combine(complete, "manifest.json"), JsonSerializer.Serialize(manifest, BackupJson.Options), TestContext.Current.CancellationToken);
        var incomplete = Directory.CreateDirectory(Path.Combine(folder, "20240103-020000-pre-update-gitea-bbbbbb")).FullName;
        await File.WriteAllTextAsync(Path.Combine(incomplete, "gitea.data.tar.gz.partial"), "123", TestContext.Current.CancellationToken);

        var sets = await app.Admin().GetFromJsonAsync<JsonElement>("/api/backups", TestContext.Current.CancellationToken);

        Assert.Equal(2, sets.GetArrayLength());
        Assert.Equal("20240103-020000-pre-update-gitea-bbbbbb", sets[0].GetProperty("id").GetString());
        Assert.Equal("incomplete", sets[0].GetProperty("state").GetString());
        Assert.Equal("pre-update", sets[0].GetProperty("kind").GetString());
        Assert.Equal("gitea", sets[0].GetProperty("container").GetString());
        Assert.Equal("complete", sets[1].GetProperty("state").GetString());
        Assert.Equal("daily", sets[1].GetProperty("kind").GetString());
        Assert.Equal(1, sets[1].GetProperty("objects").GetInt32());
        Assert.True(sets[1].GetProperty("size").GetInt64() > 5);
        Assert.Equal("2024-01-02T02:00:00+00:00", sets[1].GetProperty("createdAt").GetString());
    }

    [Fact]
    public async Task A_set_whose_object_does_not_match_its_manifest_is_refused_before_anything_changes()
    {
        // No engine behind the endpoint: the set is refused before Docker is asked anything.
        await using var app = new TestApp(new() { ["Docker:Endpoint"] = DeadEngine });
        var folder = Directory.CreateDirectory(Path.Combine(app.DataDirectory, "backups", "20240102-020000-daily-gitea-aaaaaa")).FullName;
        await File.WriteAllTextAsync(Path.Combine(folder, "gitea.data.tar.gz"), "damaged", TestContext.Current.CancellationToken);
        var manifest = new BackupManifest("20240102-020000-daily-gitea-aaaaaa", BackupKinds.Daily, DateTimeOffset.UnixEpoch, null, "gitea", null,
            [new BackupObject("gitea.data.tar.gz", "gitea:/data", 7, new string('0', 64), "gitea", BackupObjectTypes.Archive, "/data")]);
        manifest = BackupManifestSignerTests.Signer(TestApp.BackupSigningKey).Sign(manifest);
        await File.WriteAllTextAsync(Path.Combine(folder, "manifest.json"), JsonSerializer.Serialize(manifest, BackupJson.Options), TestContext.Current.CancellationToken);

        var response = await app.Admin().PostAsync("/api/backups/20240102-020000-daily-gitea-aaaaaa/restore", null, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        var problem = await response.JsonAsync();
        Assert.Contains("the set is damaged, restore another one", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_good_set_while_Docker_does_not_answer_is_a_503_that_says_what_to_check()
    {
        await using var app = new TestApp(new() { ["Docker:Endpoint"] = DeadEngine });
        app.Containers.Failure = new HttpRequestException("connection refused");
        const string setId = "20240102-020000-daily-gitea-cccccc";
        var folder = Directory.CreateDirectory(Path.Combine(app.DataDirectory, "backups", setId)).FullName;
        var content = "a good archive"u8.ToArray();
        await File.WriteAllBytesAsync(Path.Combine(folder, "gitea.data.tar.gz"), content, TestContext.Current.CancellationToken);
        var manifest = new BackupManifest(setId, BackupKinds.Daily, DateTimeOffset.UnixEpoch, null, "gitea", null,
            [new BackupObject("gitea.data.tar.gz", "gitea:/data", content.Length, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(content)), "gitea", BackupObjectTypes.Archive, "/data")]);
        manifest = BackupManifestSignerTests.Signer(TestApp.BackupSigningKey).Sign(manifest);
        await File.WriteAllTextAsync(Path.Combine(folder, "manifest.json"), JsonSerializer.Serialize(manifest, BackupJson.Options), TestContext.Current.CancellationToken);

        var response = await app.Admin().PostAsync($"/api/backups/{setId}/restore", null, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.JsonAsync();
        Assert.Contains("docker info", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        var restores = await app.Admin().GetFromJsonAsync<JsonElement>("/api/backups/restores", TestContext.Current.CancellationToken);
        Assert.Equal(0, restores.GetArrayLength());
    }

    private const string DeadEngine = "unix:///nonexistent/wu-test/docker.sock";

    [Theory]
    [InlineData("20240101-020000-daily-gitea-abcdef")]
    [InlineData("bad id!")]
    public async Task Restoring_a_set_that_is_not_complete_is_a_404_that_changes_nothing(string id)
    {
        await using var app = new TestApp();

        var response = await app.Admin().PostAsync($"/api/backups/{Uri.EscapeDataString(id)}/restore?dryRun=true", null, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var problem = await response.JsonAsync();
        Assert.Contains("GET /api/backups", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Backups:Store", "Tape", "Backups:Store is 'Tape': use Local")]
    [InlineData("Backups:PartSizeMiB", "4", "Backups:PartSizeMiB is 4: S3 parts must be 5 to 5120 MiB")]
    [InlineData("Backups:Schedule", "every night", "Backups:Schedule 'every night' is not a 5-field cron expression")]
    [InlineData("Backups:TimeZone", "Mars/Olympus", "Backups:TimeZone 'Mars/Olympus' is not a known time zone")]
    [InlineData("Backups:KeepDaily", "0", "Backups:KeepDaily and Backups:KeepPreUpdate must be 1 or more")]
    public void Bad_backup_settings_name_the_setting_and_the_fix(string setting, string value, string message) =>
        Assert.Contains(message, ValidationMessage(new() { [setting] = value }), StringComparison.Ordinal);

    [Fact]
    public void The_S3_store_needs_a_bucket() =>
        Assert.Contains("Backups:Bucket is required with Backups:Store=S3", ValidationMessage(new() { ["Backups:Store"] = "S3" }), StringComparison.Ordinal);
}
