using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Webhooks;

public sealed class DockerOutageTests
{
    [Fact]
    public async Task An_event_is_kept_when_the_engine_does_not_answer()
    {
        var data = Directory.CreateTempSubdirectory("wu-it-").FullName;
        await using (var service = new ServiceHost(data, new() { ["Docker:Endpoint"] = $"unix://{data}/no-docker.sock" }))
        {
            var digest = "sha256:" + new string('c', 64);

            var answer = await service.PostEventAsync(ServiceHost.DiunPayload("docker.io/gitea/gitea:1.22", digest, "gitea"));

            Assert.True(answer.GetProperty("deferred").GetBoolean());
            Assert.True(answer.GetProperty("eventId").GetInt64() > 0);
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(data, recursive: true);
    }
}
