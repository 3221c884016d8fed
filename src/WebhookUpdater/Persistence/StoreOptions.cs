using Microsoft.Extensions.Options;

namespace WebhookUpdater.Persistence;

public sealed class StoreOptions
{
    public const string Section = "Store";

    /// <summary>Where the SQLite journal and the local folders live (default: ./data).</summary>
    public string DataDirectory { get; set; } = "data";

    /// <summary>
    /// SQLite's synchronous mode in WAL: Full (default) syncs every commit, so a 202 survives
    /// a power cut; Normal syncs at checkpoints, survives a process crash, and is faster.
    /// </summary>
    public string Synchronous { get; set; } = "Full";

    public string DatabasePath => Path.GetFullPath(Path.Combine(DataDirectory, "webhook-updater.db"));
}

internal sealed class StoreOptionsValidator : IValidateOptions<StoreOptions>
{
    public ValidateOptionsResult Validate(string? name, StoreOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.DataDirectory))
        {
            return ValidateOptionsResult.Fail("Store:DataDirectory is empty: name a writable folder, e.g. /data");
        }

        return options.Synchronous is "Full" or "Normal"
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail($"Store:Synchronous is '{options.Synchronous}': use Full or Normal");
    }
}
