using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using WebhookUpdater.Backups;
using WebhookUpdater.Tests.Support;

namespace WebhookUpdater.Tests.Backups;

public sealed class BackupListPagingTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static async Task WriteSetAsync(TestApp app, int day)
    {
        var id = $"202401{day:00}-020000-daily-gitea-abc{day:000}";
        var folder = Directory.CreateDirectory(Path.Combine(app.DataDirectory, "backups", id)).FullName;
        await File.WriteAllTextAsync(Path.Combine(folder, "gitea.data.tar.gz"), "12345", Cancel);
        var manifest = new BackupManifest(id, BackupKinds.Daily, new DateTimeOffset(2024, 1, day, 2, 0, 0, TimeSpan.Zero), null, "gitea", null,
            [new BackupObject("gitea.data.tar.gz", "gitea:/data", 5, "abc", "gitea", BackupObjectTypes.Archive, "/data")]);
        await File.WriteAllTextAsync(Path.Combine(folder, "manifest.json"), JsonSerializer.Serialize(manifest, BackupJson.Options), Cancel);
    }

    [Fact]
    public async Task The_list_comes_in_pages_and_each_page_names_the_next_in_a_Link_header()
    {
        await using var app = new TestApp();
        for (var day = 1; day <= 5; day++)
        {
            await WriteSetAsync(app, day);
        }

        var client = app.Admin();
        var ids = new List<string>();
        var url = "/api/backups?limit=2";
        var pages = 0;
        while (url is not null)
        {
            var response = await client.GetAsync(url, Cancel);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            ids.AddRange((await response.Content.ReadFromJsonAsync<JsonElement>(Cancel)).EnumerateArray().Select(set => set.GetProperty("id").GetString()!));
            pages++;
            url = response.Headers.TryGetValues("Link", out var links)
                ? "/api/backups" + Assert.Single(links).Split(';')[0].Trim('<', '>')
                : null;
        }

        Assert.Equal(3, pages);
        Assert.Equal(Enumerable.Range(1, 5).Reverse().Select(day => $"202401{day:00}-020000-daily-gitea-abc{day:000}"), ids);
    }

    [Fact]
    public async Task Without_a_limit_one_page_holds_up_to_100_sets_and_has_no_Link_when_it_is_the_last()
    {
        await using var app = new TestApp();
        await WriteSetAsync(app, 1);

        var response = await app.Admin().GetAsync("/api/backups", Cancel);

        Assert.Equal(1, (await response.Content.ReadFromJsonAsync<JsonElement>(Cancel)).GetArrayLength());
        Assert.False(response.Headers.Contains("Link"));
    }

    [Theory]
    [InlineData("limit=0", "limit '0'")]
    [InlineData("limit=1001", "from 1 to 1000")]
    [InlineData("limit=ten", "limit 'ten'")]
    [InlineData("limit=-5", "limit '-5'")]
    [InlineData("before=..%2Fetc", "is not a set id")]
    [InlineData("before=", "is not a set id")]
    public async Task A_bad_limit_or_cursor_gets_400_problem_json_that_says_what_to_send(string query, string expected)
    {
        await using var app = new TestApp();

        var response = await app.Admin().GetAsync($"/api/backups?{query}", Cancel);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(expected, (await response.JsonAsync()).GetProperty("detail").GetString(), StringComparison.Ordinal);
    }
}
