namespace WebhookUpdater.Updates;

public sealed class UpdateOptions
{
    public const string Section = "Updates";

    /// <summary>Runs the update worker (off only in tests that look at queued jobs).</summary>
    public bool RunWorker { get; set; } = true;

    /// <summary>Lines of the failed container's log kept with the job and put in the email.</summary>
    public int LogTailLines { get; set; } = 50;

    /// <summary>Previous images kept per repository after a successful update; older ones no container uses are removed.</summary>
    public int KeepImages { get; set; } = 2;
}
