using System.Globalization;
using Microsoft.Extensions.Options;
using WebhookUpdater.Containers;
using WebhookUpdater.Leases;
using WebhookUpdater.Notifications;

namespace WebhookUpdater.Certificates;

/// <summary>
/// One renewal at a time, the same for the API and the schedule: certbot renew in a one-off
/// container shaped like the stack's certbot service; what renewed is decided by comparing the
/// certificates before and after, never by reading certbot's words; nginx is reloaded only when
/// a certificate changed and only when <c>nginx -t</c> passes. The run holds the lease of the
/// certbot and nginx containers, so it never reloads an nginx that an update is recreating: the
/// schedule waits for it (at most Leases:WaitTimeout), the API answers 409 at once.
/// </summary>
public sealed partial class CertificateRenewal(
    IContainerLookup lookup,
    IContainerActions containers,
    INotifier notifier,
    IOptionsMonitor<CertificatesOptions> options,
    TimeProvider time,
    ILogger<CertificateRenewal> logger,
    ContainerLeases? leases = null,
    IOptions<LeaseOptions>? leaseOptions = null)
{
    /// <summary>Marks the one-off certbot containers, so a run cut short by a crash is cleaned up by the next.</summary>
    public const string OneOffLabel = "webhook-updater.one-off";
    public const string OneOffValue = "certbot-renew";

    private readonly CertificateInventory _inventory = new(containers);

    // The run in progress doubles as the gate: set only when it was null.
    private RunningRenewal? _running;

    private RenewalReport? _last;

    /// <summary>The run in progress, if any (for the 409 answer).</summary>
    public RunningRenewal? Running => Volatile.Read(ref _running);

    /// <summary>The last finished run since start-up (status page, expiry gauge).</summary>
    public RenewalReport? LastReport => Volatile.Read(ref _last);

    /// <summary>
    /// Runs a renewal, or returns null at once when one is already running. When another operation
    /// holds the certbot or nginx container past the wait, the report says so (setup failed, notified).
    /// </summary>
    public async Task<RenewalReport?> TryRunAsync(string trigger, CancellationToken cancellationToken)
    {
        var attempt = await AttemptAsync(trigger, cancellationToken);
        return attempt.Report;
    }

    /// <summary>
    /// A renewal for <paramref name="trigger"/>: the API's does not wait for a busy container
    /// (<see cref="RenewalAttempt.HeldBy"/> says who holds it, nothing was run), the schedule's waits.
    /// </summary>
    public async Task<RenewalAttempt> AttemptAsync(string trigger, CancellationToken cancellationToken)
    {
        var startedAt = time.GetUtcNow();
        var running = new RunningRenewal(trigger, startedAt);
        if (Interlocked.CompareExchange(ref _running, running, null) is { } already)
        {
            return new RenewalAttempt(null, already, null);
        }

        ContainerLease? lease = null;
        try
        {
            var settings = options.CurrentValue;
            if (leases is not null && await LeaseKeysAsync(settings, cancellationToken) is { Count: > 0 } keys)
            {
                var wait = trigger == RenewalTriggers.Api ? TimeSpan.Zero : leaseOptions?.Value.WaitTimeout ?? TimeSpan.Zero;
                var taken = await leases.AcquireAsync(keys, OperationKind.CertificateRenewal, Guid.CreateVersion7().ToString("N"), wait, cancellationToken);
                if (taken.Lease is null)
                {
                    var holder = taken.HeldBy!;
                    if (trigger == RenewalTriggers.Api)
                    {
                        return new RenewalAttempt(null, null, holder);
                    }

                    var busy = new RenewalReport(trigger, startedAt, time.GetUtcNow(), RenewalOutcomes.SetupFailed, true, [], NginxResult.Untouched, null,
                        $"{holder.Container} was busy with {holder.Describe()} for longer than Leases:WaitTimeout: nothing was renewed; the next scheduled run (or POST /api/certificates/renew) tries again.");
                    LogSetupFailed(logger, trigger, busy.Problem!);
                    Volatile.Write(ref _last, busy);
                    await NotifyAsync(busy, cancellationToken);
                    return new RenewalAttempt(busy, null, holder);
                }

                lease = taken.Lease;
                startedAt = time.GetUtcNow();
            }

            LogStarted(logger, trigger);
            var report = await RunAsync(trigger, startedAt, settings, cancellationToken);
            var renewed = report.Certificates.Count(c => c.Status == CertificateStatuses.Renewed);
            LogFinished(logger, trigger, report.Outcome, report.Nginx.Action, report.Certbot?.ExitCode, renewed);
            Volatile.Write(ref _last, report);
            await NotifyAsync(report, cancellationToken);
            return new RenewalAttempt(report, null, null);
        }
        finally
        {
            if (lease is not null)
            {
                await lease.DisposeAsync();
            }

            Volatile.Write(ref _running, null);
        }
    }

    /// <summary>
    /// The certbot and nginx containers, as settings or role labels name them; none when Docker
    /// does not answer (the run then ends in its own setup failure, with nothing to hold).
    /// </summary>
    private async Task<IReadOnlyList<string>> LeaseKeysAsync(CertificatesOptions settings, CancellationToken cancellationToken)
    {
        var keys = new List<string>();
        try
        {
            foreach (var (role, configured) in new[] { ("certbot", settings.CertbotContainer), ("nginx", settings.NginxContainer) })
            {
                keys.AddRange(!string.IsNullOrWhiteSpace(configured)
                    ? [configured]
                    : (await lookup.ListByLabelAsync(CertificatesOptions.RoleLabel, role, cancellationToken)).Select(container => container.Name));
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return [];
        }

        return keys;
    }

    private async Task<RenewalReport> RunAsync(string trigger, DateTimeOffset startedAt, CertificatesOptions settings, CancellationToken cancellationToken)
    {
        string certbotContainer;
        IReadOnlyList<LiveCertificate> before;
        try
        {
            certbotContainer = await ResolveAsync("certbot", settings.CertbotContainer, cancellationToken);
            before = await _inventory.ReadAsync(certbotContainer, settings.ConfigDirectory, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Docker not answering lands here too: a scheduled run must still end in a notice.
            var failure = e is RenewalSetupException ? e.Message : $"Docker could not be asked for the certbot container or its certificates ({e.GetType().Name}: {e.Message}).";
            LogSetupFailed(logger, trigger, failure);
            return new RenewalReport(trigger, startedAt, time.GetUtcNow(), RenewalOutcomes.SetupFailed, true, [], NginxResult.Untouched, null, failure);
        }

        var command = settings.RenewCommandWords();
        OneOffResult run;
        try
        {
            await containers.RemoveLeftoversAsync(OneOffLabel, OneOffValue, cancellationToken);
            run = await containers.RunOneOffAsync(
                new OneOffRun(
                    certbotContainer,
                    command,
                    $"{certbotContainer}-renew-{startedAt.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}",
                    new Dictionary<string, string> { [OneOffLabel] = OneOffValue },
                    settings.CertbotTimeout),
                settings.OutputTailCharacters,
                cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            var failure = $"the one-off certbot container modelled on {certbotContainer} could not be run ({e.GetType().Name}: {e.Message}).";
            LogSetupFailed(logger, trigger, failure);
            return new RenewalReport(trigger, startedAt, time.GetUtcNow(), RenewalOutcomes.SetupFailed, true,
                Compare(before, before, certbotSucceeded: false, settings.WarnWithinDays), NginxResult.Untouched, null, failure);
        }

        var certbot = new CertbotResult(certbotContainer, run.Image, command, run.ExitCode, run.TimedOut, run.Output);

        IReadOnlyList<LiveCertificate> after;
        try
        {
            after = await _inventory.ReadAsync(certbotContainer, settings.ConfigDirectory, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Nothing can be said about what changed: nginx is left alone, the operator must look.
            var failure = $"certbot exited with {certbot.ExitCode}, but the certificates could not be read afterwards, so nothing says what changed and nginx was not reloaded: {e.Message}";
            LogSetupFailed(logger, trigger, failure);
            return new RenewalReport(trigger, startedAt, time.GetUtcNow(), RenewalOutcomes.Unverified, true,
                Compare(before, before, certbotSucceeded: false, settings.WarnWithinDays), NginxResult.Untouched, certbot, failure);
        }

        string? problem = null;

        var changes = Compare(before, after, certbot.Succeeded, settings.WarnWithinDays);
        var nginx = changes.Any(c => c.Status is CertificateStatuses.Renewed or CertificateStatuses.Added)
            ? await ReloadNginxAsync(settings, cancellationToken)
            : NginxResult.Untouched;

        if (!certbot.Succeeded)
        {
            problem ??= certbot.TimedOut
                ? $"certbot did not finish within Certificates:CertbotTimeout ({settings.CertbotTimeout}) and was killed."
                : $"certbot exited with {certbot.ExitCode}: its output says why.";
        }
        else if (nginx.Action is NginxActions.ConfigInvalid)
        {
            problem ??= "nginx -t rejects the configuration: nginx was not reloaded and still serves the old certificates.";
        }
        else if (nginx.Action is NginxActions.TestTimedOut)
        {
            problem ??= "nginx -t did not finish within Docker:ExecTimeout and was killed: nginx was not reloaded and still serves the old certificates.";
        }
        else if (nginx.Action is NginxActions.RestartFailed or NginxActions.NotFound or NginxActions.Error)
        {
            problem ??= $"certificates renewed but nginx could not be reloaded ({nginx.Action}).";
        }

        var outcome = !certbot.Succeeded
            ? RenewalOutcomes.CertbotFailed
            : changes.Any(c => c.Status is CertificateStatuses.Renewed or CertificateStatuses.Added) ? RenewalOutcomes.Renewed : RenewalOutcomes.NothingDue;
        var actionRequired = problem is not null || changes.Any(c => c.ExpiresSoon);
        return new RenewalReport(trigger, startedAt, time.GetUtcNow(), outcome, actionRequired, changes, nginx, certbot, problem);
    }

    private List<CertificateChange> Compare(IReadOnlyList<LiveCertificate> before, IReadOnlyList<LiveCertificate> after, bool certbotSucceeded, int warnWithinDays)
    {
        var now = time.GetUtcNow();
        var old = before.ToDictionary(c => c.Name, StringComparer.Ordinal);
        var changes = new List<CertificateChange>();
        foreach (var current in after)
        {
            old.TryGetValue(current.Name, out var previous);
            var status = previous is null ? CertificateStatuses.Added
                : previous.Fingerprint != current.Fingerprint ? CertificateStatuses.Renewed
                : certbotSucceeded ? CertificateStatuses.NotDue
                : CertificateStatuses.NotRenewed;
            var left = current.NotAfter - now;
            changes.Add(new CertificateChange(
                current.Name,
                current.Domains,
                status,
                previous?.NotAfter,
                current.NotAfter,
                previous?.Serial,
                current.Serial,
                (int)Math.Floor(left.TotalDays),
                left <= TimeSpan.FromDays(warnWithinDays)));
        }

        foreach (var gone in before.Where(c => after.All(a => a.Name != c.Name)))
        {
            changes.Add(new CertificateChange(gone.Name, gone.Domains, CertificateStatuses.Removed, gone.NotAfter, null, gone.Serial, null, null, false));
        }

        return changes;
    }

    private async Task<NginxResult> ReloadNginxAsync(CertificatesOptions settings, CancellationToken cancellationToken)
    {
        try
        {
            return await TestAndReloadNginxAsync(settings, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return new NginxResult(settings.NginxContainer, NginxActions.Error, $"{e.GetType().Name}: {e.Message}");
        }
    }

    private async Task<NginxResult> TestAndReloadNginxAsync(CertificatesOptions settings, CancellationToken cancellationToken)
    {
        string nginx;
        try
        {
            nginx = await ResolveAsync("nginx", settings.NginxContainer, cancellationToken);
        }
        catch (RenewalSetupException e)
        {
            return new NginxResult(null, NginxActions.NotFound, e.Message);
        }

        var status = await lookup.FindAsync(nginx, cancellationToken);
        if (status is null)
        {
            return new NginxResult(nginx, NginxActions.NotFound, $"container {nginx} does not exist");
        }

        if (!status.Running)
        {
            return new NginxResult(nginx, NginxActions.NotRunning, $"container {nginx} is {status.Status}: it loads the new certificates when it starts");
        }

        var test = await containers.ExecAsync(nginx, ["nginx", "-t"], cancellationToken);
        if (test.End == ExecEnd.DeadlinePassed)
        {
            LogNginxTestHung(logger, nginx, test.Note);
            return new NginxResult(nginx, NginxActions.TestTimedOut, Join(test.Output, $"nginx -t {test.Note}"));
        }

        if (test.ExitCode != 0)
        {
            LogNginxInvalid(logger, nginx, test.ExitCode);
            return new NginxResult(nginx, NginxActions.ConfigInvalid, test.Output);
        }

        var reload = await containers.ExecAsync(nginx, ["nginx", "-s", "reload"], cancellationToken);
        if (reload.ExitCode == 0)
        {
            LogNginxReloaded(logger, nginx);
            return new NginxResult(nginx, NginxActions.Reloaded, Join(test.Output, reload.Output));
        }

        // The configuration is valid (nginx -t passed): a restart reads it whole.
        LogNginxRestarting(logger, nginx, reload.ExitCode);
        try
        {
            await containers.StopAsync(nginx, cancellationToken);
            await containers.StartAsync(nginx, cancellationToken);
            return new NginxResult(nginx, NginxActions.Restarted, Join(test.Output, reload.Output));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return new NginxResult(nginx, NginxActions.RestartFailed, Join(reload.Output, $"restart: {e.Message}"));
        }
    }

    /// <summary>The container named in settings, or the only one carrying the role label.</summary>
    private async Task<string> ResolveAsync(string role, string? configured, CancellationToken cancellationToken)
    {
        var setting = role == "certbot" ? "Certificates:CertbotContainer" : "Certificates:NginxContainer";
        var variable = setting.Replace(":", "__", StringComparison.Ordinal);
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return await lookup.FindAsync(configured, cancellationToken) is null
                ? throw new RenewalSetupException($"{setting} names '{configured}', but no such container exists: fix {variable}.")
                : configured;
        }

        var labelled = (await lookup.ListByLabelAsync(CertificatesOptions.RoleLabel, role, cancellationToken)).Select(container => container.Name).ToList();
        // The old container an interrupted update left beside the new one is not a second one.
        var found = labelled.Where(name => !(name.EndsWith(".old", StringComparison.Ordinal) && labelled.Contains(name[..^4]))).ToList();
        return found.Count switch
        {
            1 => found[0],
            0 => throw new RenewalSetupException(
                $"No container carries the label {CertificatesOptions.RoleLabel}={role}: add it to the stack's {role} service, or set {variable} to its container name."),
            _ => throw new RenewalSetupException(
                $"{found.Count} containers carry the label {CertificatesOptions.RoleLabel}={role} ({string.Join(", ", found)}): keep it on one, or set {variable}."),
        };
    }

    private async Task NotifyAsync(RenewalReport report, CancellationToken cancellationToken)
    {
        if (report.Outcome is RenewalOutcomes.CertbotFailed or RenewalOutcomes.SetupFailed or RenewalOutcomes.Unverified)
        {
            await SendAsync(new CertificateNotification(CertificateNotification.RenewalFailed, report), cancellationToken);
        }

        if (report.Nginx.Action is NginxActions.ConfigInvalid or NginxActions.TestTimedOut or NginxActions.RestartFailed or NginxActions.NotFound or NginxActions.Error)
        {
            await SendAsync(new CertificateNotification(CertificateNotification.NginxNotReloaded, report), cancellationToken);
        }

        if (report.Certificates.Any(c => c.ExpiresSoon))
        {
            await SendAsync(new CertificateNotification(CertificateNotification.Expiring, report), cancellationToken);
        }
    }

    private async Task SendAsync(Notification notification, CancellationToken cancellationToken)
    {
        try
        {
            await notifier.NotifyAsync(notification, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The run's answer still says everything; a broken mailer must not hide it.
            LogNotifyFailed(logger, notification.Kind, e);
        }
    }

    private static string Join(string first, string second) =>
        string.IsNullOrWhiteSpace(first) ? second : string.IsNullOrWhiteSpace(second) ? first : first.TrimEnd() + "\n" + second;

    [LoggerMessage(Level = LogLevel.Information, Message = "Certificate renewal started ({Trigger})")]
    private static partial void LogStarted(ILogger logger, string trigger);

    [LoggerMessage(Level = LogLevel.Information, Message = "Certificate renewal ({Trigger}) finished: {Outcome}, nginx {NginxAction}, certbot exit code {ExitCode}, {RenewedCount} renewed")]
    private static partial void LogFinished(ILogger logger, string trigger, string outcome, string nginxAction, long? exitCode, int renewedCount);

    [LoggerMessage(Level = LogLevel.Error, Message = "Certificate renewal ({Trigger}) could not run: {Problem}")]
    private static partial void LogSetupFailed(ILogger logger, string trigger, string problem);

    [LoggerMessage(Level = LogLevel.Error, Message = "nginx -t failed in {Container} (exit code {ExitCode}): nginx not reloaded")]
    private static partial void LogNginxInvalid(ILogger logger, string container, long exitCode);

    [LoggerMessage(Level = LogLevel.Error, Message = "nginx -t in {Container} did not finish: {What}; nginx not reloaded")]
    private static partial void LogNginxTestHung(ILogger logger, string container, string? what);

    [LoggerMessage(Level = LogLevel.Information, Message = "nginx reloaded in {Container}")]
    private static partial void LogNginxReloaded(ILogger logger, string container);

    [LoggerMessage(Level = LogLevel.Warning, Message = "nginx -s reload failed in {Container} (exit code {ExitCode}): restarting the container")]
    private static partial void LogNginxRestarting(ILogger logger, string container, long exitCode);

    [LoggerMessage(Level = LogLevel.Error, Message = "Sending the {Kind} notification failed")]
    private static partial void LogNotifyFailed(ILogger logger, string kind, Exception error);
}

/// <summary>What a renewal call came to: its report, the renewal already running, or who holds a container it needs.</summary>
public sealed record RenewalAttempt(RenewalReport? Report, RunningRenewal? AlreadyRunning, LeaseHolder? HeldBy);

/// <summary>The renewal in progress.</summary>
public sealed record RunningRenewal(string Trigger, DateTimeOffset StartedAt);
