using WebhookUpdater.Configuration;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using WebhookUpdater.Containers;
using WebhookUpdater.Notifications;
using WebhookUpdater.Persistence;

namespace WebhookUpdater.Backups;

/// <summary>The restore test of one database: the set and dump it used, and what it found.</summary>
/// <param name="Tables">Tables in the restored database (0 when the test failed before counting).</param>
public sealed record RestoreTestResult(string SetId, string Container, string Database, bool Passed, int Tables, string Detail);

public sealed record RestoreTestReport(IReadOnlyList<RestoreTestResult> Results)
{
    public bool Passed => Results.All(result => result.Passed);
}

/// <summary>A restore test failed: the backups of a database cannot be restored.</summary>
public sealed record RestoreTestNotification(string Kind, IReadOnlyList<RestoreTestResult> Failures, int Tested) : Notification(Kind)
{
    public override string Subject => $"Restore test failed: {string.Join(", ", Failures.Select(f => $"{f.Container}/{f.Database}"))}";

    public override string Summary =>
        $"""
        The scheduled restore test restored the latest backup of {Tested} database(s) into a throwaway container; {Failures.Count} failed.
        The backups of these databases cannot be trusted until the cause is fixed:
        {string.Join("\n", Failures.Select(f => $"- {f.Container}/{f.Database}, set {f.SetId}: {f.Detail}"))}
        """;
}

public static class RestoreTestKinds
{
    public const string Failed = "restore-test-failed";

    /// <summary>Label on the throwaway container: the set it tests (and a way to find leftovers).</summary>
    public const string Label = "webhook-updater.restore-test";
}

/// <summary>
/// Restores the latest complete set of each database into a throwaway container from the image the
/// database runs now (no network, no mounts), and checks that pg_restore succeeds, the dump matches
/// its manifest's sha256 and the database has tables. The container is removed whatever happens.
/// </summary>
public sealed partial class RestoreTester(
    BackupCatalog catalog,
    IBackupStore store,
    IContainerLookup lookup,
    IContainerActions containers,
    BackupPlanner planner,
    INotifier notifier,
    RestoreTestMetrics metrics,
    IOptions<BackupOptions> options,
    TimeProvider time,
    ILogger<RestoreTester> logger)
{
    public async Task<RestoreTestReport> RunAsync(CancellationToken cancellationToken)
    {
        // Newest first: the first dump seen of a database is its latest.
        var latest = new Dictionary<(string Container, string Database), (string SetId, BackupObject Dump)>();
        foreach (var set in (await catalog.ListAsync(cancellationToken)).Where(set => set.Manifest is not null))
        {
            foreach (var dump in set.Manifest!.Objects.Where(item => item.Type == BackupObjectTypes.PostgresDump && item.Target is not null))
            {
                latest.TryAdd((dump.Container ?? set.Manifest.Container, dump.Target!), (set.Id, dump));
            }
        }

        var results = new List<RestoreTestResult>();
        foreach (var ((container, database), (setId, dump)) in latest)
        {
            var started = time.GetTimestamp();
            var result = await TestAsync(setId, container, database, dump, cancellationToken);
            metrics.Tested(container, database, result.Passed, time.GetElapsedTime(started));
            if (result.Passed)
            {
                LogPassed(logger, container, database, setId, result.Tables);
            }
            else
            {
                LogFailed(logger, container, database, setId, result.Detail);
            }

            results.Add(result);
        }

        var failures = results.Where(result => !result.Passed).ToList();
        if (failures.Count > 0)
        {
            try
            {
                await notifier.NotifyAsync(new RestoreTestNotification(RestoreTestKinds.Failed, failures, results.Count), cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogNotifyFailed(logger, e.Message);
            }
        }

        return new RestoreTestReport(results);
    }

    private async Task<RestoreTestResult> TestAsync(string setId, string container, string database, BackupObject dump, CancellationToken cancellationToken)
    {
        RestoreTestResult Failed(string detail) => new(setId, container, database, false, 0, detail);

        var status = await lookup.FindAsync(container, cancellationToken);
        if (status is null)
        {
            return Failed($"container {container} does not exist any more: there is no image to restore into");
        }

        var (user, _) = await planner.PostgresConnectionAsync(status, cancellationToken);
        var clientEnvironment = await planner.PostgresEnvironmentAsync(container, user, cancellationToken);
        var serverEnvironment = await lookup.EnvironmentAsync(container, cancellationToken) ?? [];
        var name = $"{BackupNames.Safe(container)}-restore-test-{Guid.NewGuid().ToString("N")[..6]}";
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(options.Value.RestoreTestTimeout);
        try
        {
            await containers.RunThrowawayAsync(name, status.ImageId, serverEnvironment, new Dictionary<string, string> { [RestoreTestKinds.Label] = setId }, deadline.Token);
            if (!await ReadyAsync(name, deadline.Token))
            {
                return Failed($"the throwaway container from {container}'s image never accepted connections (pg_isready)");
            }

            var maintenance = database == "postgres" ? "template1" : "postgres";
            using var hash = SHA256.Create();
            ExecResult restored;
            await using (var content = await store.OpenAsync(setId, dump.Name, deadline.Token))
            await using (var hashed = new CryptoStream(content, hash, CryptoStreamMode.Read))
            {
                restored = await containers.ExecWriteAsync(
                    name,
                    ["pg_restore", "--clean", "--create", "--if-exists", "--exit-on-error", "--no-password", "--dbname", maintenance],
                    clientEnvironment,
                    hashed,
                    deadline.Token);
                if (restored.ExitCode != 0)
                {
                    return Failed($"pg_restore of {dump.Name} exited with {restored.ExitCode}: {restored.Output.Trim()}");
                }

                // pg_restore may stop reading before the end of a damaged dump: the hash covers every byte.
                await hashed.CopyToAsync(Stream.Null, deadline.Token);
            }

            if (!string.Equals(Convert.ToHexStringLower(hash.Hash!), dump.Sha256, StringComparison.OrdinalIgnoreCase))
            {
                return Failed($"{dump.Name} does not match the sha256 of its manifest: the stored object was changed or damaged");
            }

            var counted = await containers.ExecWriteAsync(
                name,
                ["psql", "--no-password", "-At", "-d", database, "-c", "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"],
                clientEnvironment,
                Stream.Null,
                deadline.Token);
            var lastLine = counted.Output.Trim().Split('\n')[^1].Trim();
            if (counted.ExitCode != 0 || !int.TryParse(lastLine, NumberStyles.None, CultureInfo.InvariantCulture, out var tables))
            {
                return Failed($"the restored database {database} could not be read (psql exited with {counted.ExitCode}): {counted.Output.Trim()}");
            }

            return tables == 0
                ? Failed($"pg_restore succeeded but the restored database {database} has no tables")
                : new RestoreTestResult(setId, container, database, true, tables, $"restored into a throwaway container: {tables} table(s)");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Failed($"the test took longer than Backups:RestoreTestTimeout ({options.Value.RestoreTestTimeout})");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return Failed(e.Message);
        }
        finally
        {
            // Bounded on its own: the container must go even when the test was cut off.
            using var removal = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            try
            {
                await containers.RemoveThrowawayAsync(name, removal.Token);
            }
            catch (Exception e)
            {
                LogRemoveFailed(logger, name, e.Message);
            }
        }
    }

    /// <summary>Over TCP on the container's own loopback: the socket answers already during the image's initdb, too early.</summary>
    private async Task<bool> ReadyAsync(string name, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                if ((await containers.ExecAsync(name, ["pg_isready", "-h", "127.0.0.1"], cancellationToken)).ExitCode == 0)
                {
                    return true;
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Not running yet (or exited: then the deadline ends the wait).
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500), time, cancellationToken);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Restore test of {Container}/{Database} passed (set {SetId}, {Tables} tables)")]
    private static partial void LogPassed(ILogger logger, string container, string database, string setId, int tables);

    [LoggerMessage(Level = LogLevel.Error, Message = "Restore test of {Container}/{Database} failed (set {SetId}): {Detail}")]
    private static partial void LogFailed(ILogger logger, string container, string database, string setId, string detail);

    [LoggerMessage(Level = LogLevel.Error, Message = "A restore test failed and the notice could not be sent: {Error}")]
    private static partial void LogNotifyFailed(ILogger logger, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The restore test's container {Name} could not be removed: {Error}")]
    private static partial void LogRemoveFailed(ILogger logger, string name, string error);
}

/// <summary>
/// Results of restore tests: a counter by result, the duration, and a gauge per database that is
/// 1 while its latest test passed and 0 after a failure (alert on 0).
/// </summary>
public sealed class RestoreTestMetrics : IDisposable
{
    private readonly Meter _meter;
    private readonly Counter<long> _tests;
    private readonly Histogram<double> _duration;
    private readonly Dictionary<(string Container, string Database), int> _last = [];
    private readonly Lock _lock = new();

    public RestoreTestMetrics(IMeterFactory meters)
    {
        _meter = meters.Create(BackupMetrics.MeterName);
        _tests = _meter.CreateCounter<long>("webhookupdater.backup.restore_tests", "{test}", "Restore tests of the latest backup of a database, by result");
        _duration = _meter.CreateHistogram<double>("webhookupdater.backup.restore_test.duration", "s", "Time of one restore test");
        _meter.CreateObservableGauge("webhookupdater.backup.restore_test.passed", Observe, "1", "1 while the latest restore test of a database passed, 0 after a failure");
    }

    public void Tested(string container, string database, bool passed, TimeSpan duration)
    {
        var tags = new TagList { { "container", container }, { "database", database }, { "result", passed ? "passed" : "failed" } };
        _tests.Add(1, tags);
        _duration.Record(duration.TotalSeconds, tags);
        lock (_lock)
        {
            _last[(container, database)] = passed ? 1 : 0;
        }
    }

    private IEnumerable<Measurement<int>> Observe()
    {
        lock (_lock)
        {
            return _last.Select(entry => new Measurement<int>(entry.Value, new KeyValuePair<string, object?>("container", entry.Key.Container), new KeyValuePair<string, object?>("database", entry.Key.Database))).ToList();
        }
    }

    public void Dispose() => _meter.Dispose();
}

/// <summary>Runs the restore test at the times of Backups:RestoreTestSchedule (in Backups:TimeZone).</summary>
internal sealed class RestoreTestSchedule(
    Lazy<RestoreTester> tester,
    ScheduleJournal journal,
    IOptions<BackupOptions> options,
    TimeProvider time,
    ILogger<RestoreTestSchedule> logger) : ScheduledService(journal, time, logger)
{
    public const string Name = "backups.restore-test";

    protected override string JournalName => Name;

    protected override string Title => "Restore test";

    protected override string Setting => "Backups:RestoreTestSchedule";

    protected override (Cronos.CronExpression? Schedule, TimeZoneInfo Zone) Resolve() =>
        (options.Value.ResolveRestoreTestSchedule(), options.Value.ResolveTimeZone());

    protected override Task RunAsync(CancellationToken cancellationToken) => tester.Value.RunAsync(cancellationToken);
}
