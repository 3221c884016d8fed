namespace WebhookUpdater.Certificates;

/// <summary>What one renewal run did: the answer of POST /api/certificates/renew and the content of its notifications.</summary>
/// <param name="Trigger">api or schedule.</param>
/// <param name="Outcome">One of <see cref="RenewalOutcomes"/>.</param>
/// <param name="ActionRequired">True when the operator must look: certbot failed, nginx was not reloaded, or a certificate expires soon.</param>
/// <param name="Problem">What went wrong and what to do, when something did.</param>
public sealed record RenewalReport(
    string Trigger,
    DateTimeOffset StartedAt,
    DateTimeOffset FinishedAt,
    string Outcome,
    bool ActionRequired,
    IReadOnlyList<CertificateChange> Certificates,
    NginxResult Nginx,
    CertbotResult? Certbot,
    string? Problem)
{
    public bool Renewed => Certificates.Any(c => c.Status is CertificateStatuses.Renewed or CertificateStatuses.Added);
}

/// <param name="Name">certbot's lineage name (the folder under live/).</param>
/// <param name="Status">One of <see cref="CertificateStatuses"/>.</param>
/// <param name="DaysLeft">Whole days until the current certificate expires.</param>
/// <param name="ExpiresSoon">True when it expires within Certificates:WarnWithinDays.</param>
public sealed record CertificateChange(
    string Name,
    IReadOnlyList<string> Domains,
    string Status,
    DateTimeOffset? OldExpiry,
    DateTimeOffset? NewExpiry,
    string? OldSerial,
    string? NewSerial,
    int? DaysLeft,
    bool ExpiresSoon);

/// <param name="Action">One of <see cref="NginxActions"/>.</param>
/// <param name="Output">The end of nginx -t / nginx -s reload output when they ran.</param>
public sealed record NginxResult(string? Container, string Action, string? Output)
{
    public static NginxResult Untouched { get; } = new(null, NginxActions.NotTouched, null);
}

/// <param name="Container">The stack's certbot container the one-off was modelled on.</param>
/// <param name="ExitCode">certbot's exit code; -1 when it was killed at Certificates:CertbotTimeout.</param>
public sealed record CertbotResult(string Container, string Image, IReadOnlyList<string> Command, long ExitCode, bool TimedOut, string OutputTail)
{
    public bool Succeeded => ExitCode == 0 && !TimedOut;
}

public static class RenewalTriggers
{
    public const string Api = "api";
    public const string Schedule = "schedule";
}

public static class RenewalOutcomes
{
    public const string NothingDue = "nothing due";
    public const string Renewed = "renewed";
    public const string CertbotFailed = "certbot failed";
    public const string SetupFailed = "could not run";

    /// <summary>certbot ran, but the certificates could not be read afterwards.</summary>
    public const string Unverified = "not verified";
}

public static class CertificateStatuses
{
    public const string Renewed = "renewed";
    public const string NotDue = "not due";

    /// <summary>Unchanged while certbot failed: it may have been due.</summary>
    public const string NotRenewed = "not renewed";

    public const string Added = "new";
    public const string Removed = "removed";
}

public static class NginxActions
{
    /// <summary>Nothing renewed, so nginx was left alone.</summary>
    public const string NotTouched = "not touched";

    public const string Reloaded = "reloaded";

    /// <summary>nginx -s reload failed, the container was restarted instead.</summary>
    public const string Restarted = "restarted";

    /// <summary>nginx -t failed: nginx left alone, still serving the old certificates.</summary>
    public const string ConfigInvalid = "config invalid, not reloaded";

    /// <summary>nginx -t did not finish within its deadline and was killed: nginx left alone.</summary>
    public const string TestTimedOut = "config test timed out, not reloaded";

    public const string RestartFailed = "reload and restart failed";

    /// <summary>The container exists but is stopped: it reads the new certificates when it starts.</summary>
    public const string NotRunning = "not running";

    public const string NotFound = "not found";

    /// <summary>Docker failed while nginx was being tested or reloaded.</summary>
    public const string Error = "docker error";
}
