using System.Text.Json;
using Dapper;
using Microsoft.Extensions.Options;

namespace WebhookUpdater.Persistence;

/// <summary>Settings of the "Journal" section (env: Journal__KeepDays, …).</summary>
public sealed class JournalOptions
{
    public const string Section = "Journal";

    /// <summary>Days kept of the journal's history (events, finished jobs, decided approvals, sent email); 0 keeps everything.</summary>
    public int KeepDays { get; set; } = 90;

    /// <summary>Days kept of the history an operator digs into (failed and rolled-back jobs, with their steps and events).</summary>
    public int KeepFailedDays { get; set; } = 365;

    /// <summary>Rows deleted per write: small, so a webhook's write never waits behind a long delete.</summary>
    public int BatchSize { get; set; } = 500;

    /// <summary>Time between pruning rounds; the first comes five minutes after start-up.</summary>
    public TimeSpan PruneEvery { get; set; } = TimeSpan.FromHours(1);
}

internal sealed class JournalOptionsValidator : IValidateOptions<JournalOptions>
{
    public ValidateOptionsResult Validate(string? name, JournalOptions options)
    {
        var failures = new List<string>();
        if (options.KeepDays < 0)
        {
            failures.Add($"Journal:KeepDays is {options.KeepDays}: use a number of days (default 90), or 0 to keep everything");
        }

        if (options.KeepDays > 0 && options.KeepFailedDays < options.KeepDays)
        {
            failures.Add($"Journal:KeepFailedDays is {options.KeepFailedDays}: use at least Journal:KeepDays ({options.KeepDays}); default 365");
        }

        if (options.BatchSize is < 1 or > 10_000)
        {
            failures.Add($"Journal:BatchSize is {options.BatchSize}: use 1 to 10000 (default 500)");
        }

        if (options.PruneEvery < TimeSpan.FromMinutes(1))
        {
            failures.Add($"Journal:PruneEvery is {options.PruneEvery}: use at least 00:01:00 (default 01:00:00)");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>
/// One feature's part of journal retention, as two statements. <see cref="Find"/> selects up to
/// @batch keys of rows past @cutoff (or @failedCutoff, for the history kept longer); <see cref="Remove"/>
/// deletes (or empties) the rows whose keys are in the JSON array @ids, re-checking the condition.
/// Rules run by <see cref="Order"/>: rows that others refer to go last.
/// </summary>
public sealed record RetentionRule(string Name, int Order, string Find, string Remove);

/// <summary>How many rows one pruning round removed (or emptied), by rule.</summary>
public sealed record JournalPruneResult(IReadOnlyDictionary<string, int> Removed)
{
    public int this[string rule] => Removed.GetValueOrDefault(rule);

    public int Total => Removed.Values.Sum();
}

/// <summary>
/// Keeps the journal from growing forever, by the rules the features register. Old rows are found
/// on a reading connection (WAL: it never holds the writer) and deleted by key in small writes,
/// each its own turn on the journal's one writer, each re-checking its condition, so a webhook's
/// write waits at most one small batch.
/// </summary>
public sealed partial class JournalRetention(
    Database database, IEnumerable<RetentionRule> rules, IOptions<JournalOptions> options, TimeProvider time, ILogger<JournalRetention> logger)
{
    private readonly IReadOnlyList<RetentionRule> _rules = rules.OrderBy(rule => rule.Order).ToList();

    public async Task<JournalPruneResult> PruneAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var removed = new Dictionary<string, int>(StringComparer.Ordinal);
        if (settings.KeepDays == 0)
        {
            return new JournalPruneResult(removed);
        }

        var now = time.GetUtcNow();
        var cutoff = JournalTime.Format(now.AddDays(-settings.KeepDays));
        var failedCutoff = JournalTime.Format(now.AddDays(-settings.KeepFailedDays));
        foreach (var rule in _rules)
        {
            removed[rule.Name] = await RepeatAsync(rule.Find, rule.Remove, cutoff, failedCutoff, settings.BatchSize, cancellationToken);
        }

        var result = new JournalPruneResult(removed);
        if (result.Total > 0)
        {
            var summary = string.Join(", ", removed.Select(entry => $"{entry.Key} {entry.Value}"));
            LogPruned(logger, summary);
        }

        return result;
    }

    /// <summary>Finds a batch of keys, deletes (or updates) them in one small write, until a batch comes back short.</summary>
    private async Task<int> RepeatAsync(string find, string change, string cutoff, string failedCutoff, int batch, CancellationToken cancellationToken)
    {
        var total = 0;
        while (true)
        {
            var keys = await database.ReadAsync(
                async connection => (await connection.QueryAsync<string>(find, new { cutoff, failedCutoff, batch })).ToList(),
                cancellationToken);
            if (keys.Count == 0)
            {
                return total;
            }

            var ids = JsonSerializer.Serialize(keys, PersistenceJson.Default.ListString);
            await database.WriteAsync(
                (connection, transaction) => connection.ExecuteAsync(change, new { ids, cutoff, failedCutoff }, transaction),
                cancellationToken);
            total += keys.Count;
            if (keys.Count < batch)
            {
                return total;
            }

            // Lets the webhooks' writes that queued meanwhile go first.
            await Task.Yield();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Journal retention: rows removed (or emptied) by rule: {Removed}")]
    private static partial void LogPruned(ILogger logger, string removed);
}

[System.Text.Json.Serialization.JsonSerializable(typeof(List<string>))]
internal sealed partial class PersistenceJson : System.Text.Json.Serialization.JsonSerializerContext;

/// <summary>Runs <see cref="JournalRetention"/> five minutes after start-up, then every Journal:PruneEvery.</summary>
internal sealed partial class JournalRetentionService(JournalRetention retention, IOptions<JournalOptions> options, TimeProvider time, ILogger<JournalRetentionService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Value.KeepDays == 0)
        {
            return;
        }

        try
        {
            await Task.Delay(TimeSpan.FromMinutes(5), time, stoppingToken);
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    await retention.PruneAsync(stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // The journal keeps working with old rows in it; the next round tries again.
                    LogFailed(logger, e.Message);
                }

                await Task.Delay(options.Value.PruneEvery, time, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Journal retention: a round failed, the next one tries again: {Error}")]
    private static partial void LogFailed(ILogger logger, string error);
}
