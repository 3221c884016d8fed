using System.Text.Json;

namespace WebhookUpdater.IntegrationTests.Support;

internal static class JobWaiter
{
    private static readonly string[] Final = ["succeeded", "failed", "rolled_back", "rejected", "superseded", "ignored", "cancelled"];

    /// <summary>Polls GET /api/jobs/{id} until the job ends (or the condition holds).</summary>
    public static async Task<JsonElement> WaitAsync(Func<string, Task<JsonElement>> get, string jobId, TimeSpan timeout, Func<JsonElement, bool>? until = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        JsonElement job = default;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                job = await get($"/api/jobs/{jobId}");
                if (until is not null ? until(job) : Final.Contains(job.GetProperty("state").GetString()))
                {
                    return job;
                }
            }
            catch (HttpRequestException)
            {
                // The service may be restarting.
            }

            await Task.Delay(250);
        }

        Assert.Fail($"job {jobId} did not get there within {timeout}: {job}");
        return job;
    }

    public static string Timeline(JsonElement job) =>
        string.Join("; ", job.GetProperty("steps").EnumerateArray().Select(s =>
            $"{s.GetProperty("name").GetString()}={s.GetProperty("state").GetString()} ({s.GetProperty("detail")})"));
}
