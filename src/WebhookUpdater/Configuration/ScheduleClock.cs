namespace WebhookUpdater.Configuration;

/// <summary>Waits for a scheduled time on the service's clock.</summary>
internal static class ScheduleClock
{
    /// <summary>
    /// Returns at <paramref name="due"/>. It waits in steps of at most a minute, so a clock that
    /// jumps (suspend, NTP) is noticed within a minute.
    /// </summary>
    public static async Task WaitUntilAsync(DateTimeOffset due, TimeProvider time, CancellationToken cancellationToken)
    {
        while (time.GetUtcNow() < due)
        {
            var wait = due - time.GetUtcNow();
            await Task.Delay(wait > TimeSpan.FromMinutes(1) ? TimeSpan.FromMinutes(1) : wait, time, cancellationToken);
        }
    }
}
