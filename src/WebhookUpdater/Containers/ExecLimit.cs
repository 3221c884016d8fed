namespace WebhookUpdater.Containers;

/// <summary>The deadline of one command: the smaller of what its step has left and the setting.</summary>
internal static class ExecLimit
{
    /// <summary>Never below a second: a step with nothing left still gets its command a fair chance to answer.</summary>
    public static readonly TimeSpan Floor = TimeSpan.FromSeconds(1);

    public static TimeSpan Of(TimeSpan budget, TimeSpan setting)
    {
        var limit = budget == Timeout.InfiniteTimeSpan || budget > setting ? setting : budget;
        return limit < Floor ? Floor : limit;
    }

    public static string Describe(TimeSpan limit) =>
        limit.TotalSeconds < 120 ? $"{limit.TotalSeconds:0.#} s" : $"{limit.TotalMinutes:0.#} min";
}
