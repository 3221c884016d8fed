using Microsoft.Extensions.Options;
using WebhookUpdater.Containers;
using WebhookUpdater.Health;
using WebhookUpdater.Leases;
using WebhookUpdater.Notifications;
using WebhookUpdater.Persistence;

namespace WebhookUpdater.Backups;

/// <summary>
/// <c>dotnet WebhookUpdater.dll restore &lt;set id&gt; [--dry-run]</c>: the restore of the API, for a
/// shell on the server (the service itself may be down). It reads the same settings as the
/// service (appsettings.json, environment variables, further --Section:Key=value arguments).
/// </summary>
public static class RestoreCommand
{
    public const string Name = "restore";

    public static bool Matches(string[] args) => args.Length > 0 && args[0] == Name;

    public static async Task<int> RunAsync(string[] args, TextWriter output)
    {
        var dryRun = args.Contains("--dry-run");
        var positional = args.Skip(1).Where(arg => !arg.StartsWith("--", StringComparison.Ordinal)).ToList();
        if (positional.Count != 1)
        {
            await output.WriteLineAsync("usage: dotnet WebhookUpdater.dll restore <set id> [--dry-run]   (GET /api/backups lists the set ids)");
            return 2;
        }

        var builder = Host.CreateApplicationBuilder(args.Skip(1).Where(arg => arg.StartsWith("--", StringComparison.Ordinal) && arg != "--dry-run").ToArray());
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddPersistence();
        builder.Services.AddContainers();
        builder.Services.AddBackups();
        builder.Services.AddHealthGate();
        builder.Services.AddNotifications();
        builder.Services.AddLeases();
        using var host = builder.Build();

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
            await output.WriteLineAsync($"{(dryRun ? "dry run: " : "")}restoring {positional[0]} from {store.Describe()}");
            // The service's journal: the restore takes the same leases and is finished by the service if this process dies.
            await host.Services.GetRequiredService<Database>().MigrateAsync(cancel.Token);
            var result = await host.Services.GetRequiredService<RestoreJobs>().RunAsync(positional[0], dryRun, RestoreTriggers.Command, TimeSpan.Zero, cancel.Token);
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
        catch (Exception e) when (e is RestoreRefusedException or OptionsValidationException)
        {
            await output.WriteLineAsync($"restore refused, nothing was changed: {e.Message}");
            return 1;
        }
    }
}
