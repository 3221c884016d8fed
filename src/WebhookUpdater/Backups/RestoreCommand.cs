using Microsoft.Extensions.Options;
using WebhookUpdater.Containers;
using WebhookUpdater.Health;
using WebhookUpdater.Leases;
using WebhookUpdater.Notifications;
using WebhookUpdater.Persistence;

namespace WebhookUpdater.Backups;

/// <summary>
/// Commands for a shell on the server (the service itself may be down), with the same settings
/// as the service (appsettings.json, environment variables, further --Section:Key=value arguments):
/// <c>restore &lt;set id&gt; [--dry-run]</c>, the restore of the API;
/// <c>adopt &lt;set id&gt; [--yes]</c>, signs a set this installation did not sign, after the operator confirms.
/// </summary>
public static class RestoreCommand
{
    public const string Name = "restore";
    public const string AdoptName = "adopt";

    public static bool Matches(string[] args) => args.Length > 0 && args[0] is Name or AdoptName;

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextReader? input = null)
    {
        var adopt = args[0] == AdoptName;
        var flag = adopt ? "--yes" : "--dry-run";
        var flagged = args.Contains(flag);
        var positional = args.Skip(1).Where(arg => !arg.StartsWith("--", StringComparison.Ordinal)).ToList();
        if (positional.Count != 1)
        {
            await output.WriteLineAsync(adopt
                ? "usage: dotnet WebhookUpdater.dll adopt <set id> [--yes]   (checks a set this installation did not sign and, once confirmed, signs it)"
                : "usage: dotnet WebhookUpdater.dll restore <set id> [--dry-run]   (GET /api/backups lists the set ids)");
            return 2;
        }

        using var host = CommandHost(args.Skip(1).Where(arg => arg.StartsWith("--", StringComparison.Ordinal) && arg != flag).ToArray()).Build();

        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };

        try
        {
            // Settings are checked here as the service checks them at start.
            _ = host.Services.GetRequiredService<IOptions<BackupOptions>>().Value;
            var store = host.Services.GetRequiredService<IBackupStore>();
            var restorer = host.Services.GetRequiredService<BackupRestorer>();
            return adopt
                ? await AdoptAsync(restorer, store, positional[0], flagged, output, input ?? Console.In, cancel.Token)
                : await RestoreAsync(host.Services, store, positional[0], flagged, output, cancel.Token);
        }
        catch (Exception e) when (e is RestoreRefusedException or OptionsValidationException)
        {
            await output.WriteLineAsync($"{(adopt ? "adoption" : "restore")} refused, nothing was changed: {e.Message}");
            return 1;
        }
    }

    /// <summary>The service's backups, restores and their journal, without the web host: for a command run from a shell or by Swarm.</summary>
    internal static HostApplicationBuilder CommandHost(string[] args)
    {
        var builder = Host.CreateApplicationBuilder(args);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddPersistence();
        builder.Services.AddContainers();
        builder.Services.AddBackups();
        builder.Services.AddHealthGate();
        builder.Services.AddNotifications();
        builder.Services.AddLeases();
        return builder;
    }

    private static async Task<int> RestoreAsync(IServiceProvider services, IBackupStore store, string setId, bool dryRun, TextWriter output, CancellationToken cancellationToken)
    {
        await output.WriteLineAsync($"{(dryRun ? "dry run: " : "")}restoring {setId} from {store.Describe()}");
        // The service's journal: the restore takes the same leases and is finished by the service if this process dies.
        await services.GetRequiredService<Database>().MigrateAsync(cancellationToken);
        var result = await services.GetRequiredService<RestoreJobs>().RunAsync(setId, dryRun, RestoreTriggers.Command, TimeSpan.Zero, cancellationToken);
        if (result.HeldBy is { } holder)
        {
            await output.WriteLineAsync($"restore refused, nothing was changed: {holder.Container} is busy with {holder.Describe()}; try again when it has finished");
            return 1;
        }

        var report = result.Report!;
        foreach (var step in report.Steps)
        {
            await output.WriteLineAsync($"  {step}");
        }

        await output.WriteLineAsync(report.Succeeded ? (dryRun ? "dry run: nothing was changed" : "restore complete") : $"restore FAILED: {report.Error}");
        return report.Succeeded ? 0 : 1;
    }

    private static async Task<int> AdoptAsync(BackupRestorer restorer, IBackupStore store, string setId, bool yes, TextWriter output, TextReader input, CancellationToken cancellationToken)
    {
        await output.WriteLineAsync($"checking set {setId} in {store.Describe()}");
        var report = await restorer.AdoptAsync(setId, confirmed: false, cancellationToken);
        foreach (var step in report.Steps)
        {
            await output.WriteLineAsync($"  {step}");
        }

        if (report.Trust == ManifestTrust.Trusted)
        {
            return 0;
        }

        await output.WriteLineAsync($"set {setId}: {report.Manifest.Kind} of {report.Manifest.Container}, made {report.Manifest.CreatedAt:u}. Once signed, a restore (and a rollback) may write it into the containers above.");
        if (!yes)
        {
            await output.WriteLineAsync($"Sign it with this installation's key? Type the set id to confirm:");
            var answer = await input.ReadLineAsync(cancellationToken);
            if (answer?.Trim() != setId)
            {
                await output.WriteLineAsync("not confirmed: nothing was changed");
                return 1;
            }
        }

        var adopted = await restorer.AdoptAsync(setId, confirmed: true, cancellationToken);
        await output.WriteLineAsync(adopted.Adopted ? $"adopted: set {setId} is signed by this installation" : "nothing was changed");
        return adopted.Adopted ? 0 : 1;
    }
}
