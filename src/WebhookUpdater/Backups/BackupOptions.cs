using Cronos;
using Microsoft.Extensions.Options;

namespace WebhookUpdater.Backups;

public static class BackupStores
{
    public const string Local = "Local";
    public const string S3 = "S3";
}

/// <summary>Settings of the "Backups" section (env: Backups__Store, Backups__Bucket, …).</summary>
public sealed class BackupOptions
{
    public const string Section = "Backups";

    /// <summary>Local (a folder under Store:DataDirectory) or S3.</summary>
    public string Store { get; set; } = BackupStores.Local;

    public string? Bucket { get; set; }

    /// <summary>Key prefix inside the bucket; sets go to {Prefix}/{set id}/.</summary>
    public string Prefix { get; set; } = "webhook-updater";

    public string Region { get; set; } = "us-east-1";

    /// <summary>An S3-compatible endpoint (MinIO, Garage, s3rver…); empty means AWS.</summary>
    public string? ServiceUrl { get; set; }

    public bool ForcePathStyle { get; set; }

    /// <summary>e.g. AES256 or aws:kms; empty sends no header.</summary>
    public string? ServerSideEncryption { get; set; }

    /// <summary>e.g. STANDARD_IA, GLACIER_IR; empty leaves the bucket's default.</summary>
    public string? StorageClass { get; set; }

    /// <summary>Fixed size of each multipart part: memory use is about two parts, whatever the dump's size.</summary>
    public int PartSizeMiB { get; set; } = 8;

    /// <summary>
    /// The SDK's aws-chunked request bodies. Some S3-compatible stores (s3rver among them) answer
    /// 200 and store the chunk framing as the object: turn it off for those.
    /// </summary>
    public bool UseChunkEncoding { get; set; } = true;

    /// <summary>Read every object back and hash it even when the store reports a matching checksum.</summary>
    public bool AlwaysReadBack { get; set; }

    /// <summary>How long one S3 request may take (a part that hangs fails after this, and is retried by the SDK).</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Retries of one failed S3 request (the SDK's standard mode).</summary>
    public int MaxRetries { get; set; } = 3;

    /// <summary>A named profile of the AWS credentials file; empty uses the SDK's default chain.</summary>
    public string? Profile { get; set; }

    /// <summary>Where the credentials file is, for <see cref="Profile"/>; empty is ~/.aws/credentials.</summary>
    public string? ProfilesLocation { get; set; }

    /// <summary>Cron (5 fields) of the daily backup; empty turns the schedule off.</summary>
    public string? Schedule { get; set; } = "0 2 * * *";

    /// <summary>Time zone of <see cref="Schedule"/> (IANA id); empty is the host's local zone.</summary>
    public string? TimeZone { get; set; }

    /// <summary>Cron (5 fields, in <see cref="TimeZone"/>) of the restore test of each database's latest set; empty turns it off.</summary>
    public string? RestoreTestSchedule { get; set; } = "0 4 * * 0";

    /// <summary>How long the restore test of one database may take (start, pg_restore, checks).</summary>
    public TimeSpan RestoreTestTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>Complete daily sets kept per container.</summary>
    public int KeepDaily { get; set; } = 7;

    /// <summary>Complete pre-update sets kept per container.</summary>
    public int KeepPreUpdate { get; set; } = 5;

    /// <summary>Complete manual sets kept per container; 0 keeps them all.</summary>
    public int KeepManual { get; set; }

    /// <summary>HMAC-SHA256 key that signs every manifest (at least 32 bytes). Secret: also from Backups__SigningKey_FILE.</summary>
    public string? SigningKey { get; set; }

    public const int MinimumKeyBytes = 32;

    /// <summary>Image of the throwaway container that empties a path before its restore; empty uses the target container's own image (it needs sh and rm).</summary>
    public string? RestoreHelperImage { get; set; }

    /// <summary>How long emptying one path before its restore may take.</summary>
    public TimeSpan RestoreHelperTimeout { get; set; } = TimeSpan.FromMinutes(10);

    public byte[] SigningKeyBytes => System.Text.Encoding.UTF8.GetBytes(SigningKey ?? "");

    public long PartSizeBytes => PartSizeMiB * 1024L * 1024L;

    public TimeZoneInfo ResolveTimeZone() =>
        string.IsNullOrWhiteSpace(TimeZone) ? TimeZoneInfo.Local : TimeZoneInfo.FindSystemTimeZoneById(TimeZone);

    public CronExpression? ResolveRestoreTestSchedule() =>
        string.IsNullOrWhiteSpace(RestoreTestSchedule) ? null : CronExpression.Parse(RestoreTestSchedule, CronFormat.Standard);

    public CronExpression? ResolveSchedule() =>
        string.IsNullOrWhiteSpace(Schedule) ? null : CronExpression.Parse(Schedule, CronFormat.Standard);
}

/// <summary>In Development a missing signing key gets a throwaway value: sets made then cannot be restored after a restart without adopting them.</summary>
internal sealed class BackupDevelopmentDefaults(IHostEnvironment? environment = null) : IPostConfigureOptions<BackupOptions>
{
    private readonly Lazy<string> _developmentKey = new(() => Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));

    public void PostConfigure(string? name, BackupOptions options)
    {
        if (environment?.IsDevelopment() == true && string.IsNullOrEmpty(options.SigningKey))
        {
            options.SigningKey = _developmentKey.Value;
        }
    }
}

internal sealed class BackupOptionsValidator : IValidateOptions<BackupOptions>
{
    public ValidateOptionsResult Validate(string? name, BackupOptions options)
    {
        var failures = new List<string>();
        if (options.Store is not (BackupStores.Local or BackupStores.S3))
        {
            failures.Add($"Backups:Store is '{options.Store}': use Local (a folder under Store:DataDirectory) or S3");
        }

        if (options.Store == BackupStores.S3)
        {
            if (string.IsNullOrWhiteSpace(options.Bucket))
            {
                failures.Add("Backups:Bucket is required with Backups:Store=S3: name an existing bucket (Backups__Bucket)");
            }

            if (!string.IsNullOrWhiteSpace(options.ServiceUrl) && !Uri.TryCreate(options.ServiceUrl, UriKind.Absolute, out _))
            {
                failures.Add($"Backups:ServiceUrl '{options.ServiceUrl}' is not an absolute URL: use e.g. https://s3.example.com, or leave it empty for AWS");
            }

            if (string.IsNullOrWhiteSpace(options.Region))
            {
                failures.Add("Backups:Region is empty: name the bucket's region, e.g. eu-central-1");
            }
        }

        if (string.IsNullOrEmpty(options.SigningKey))
        {
            failures.Add($"Backups:SigningKey is required outside Development: set Backups__SigningKey_FILE to a file of at least {BackupOptions.MinimumKeyBytes} random bytes (scripts/run.sh and compose/init-secrets.sh make one); it signs every backup set, and a restore refuses a set it did not sign");
        }
        else if (options.SigningKeyBytes.Length < BackupOptions.MinimumKeyBytes)
        {
            failures.Add($"Backups:SigningKey is too short ({options.SigningKeyBytes.Length} bytes): use at least {BackupOptions.MinimumKeyBytes} (e.g. `openssl rand -hex 32`)");
        }

        if (options.RestoreHelperTimeout <= TimeSpan.Zero)
        {
            failures.Add("Backups:RestoreHelperTimeout must be positive, e.g. 00:10:00 (default)");
        }

        if (options.PartSizeMiB is < 5 or > 5120)
        {
            failures.Add($"Backups:PartSizeMiB is {options.PartSizeMiB}: S3 parts must be 5 to 5120 MiB (default 8)");
        }

        if (options.Prefix.Contains("..", StringComparison.Ordinal) || options.Prefix.StartsWith('/'))
        {
            failures.Add($"Backups:Prefix '{options.Prefix}' must be a relative key prefix such as webhook-updater/prod");
        }

        if (options.RequestTimeout <= TimeSpan.Zero)
        {
            failures.Add("Backups:RequestTimeout must be positive, e.g. 00:05:00");
        }

        if (options.MaxRetries is < 0 or > 10)
        {
            failures.Add("Backups:MaxRetries must be between 0 and 10 (default 3)");
        }

        if (options.KeepDaily < 1 || options.KeepPreUpdate < 1 || options.KeepManual < 0)
        {
            failures.Add("Backups:KeepDaily and Backups:KeepPreUpdate must be 1 or more, Backups:KeepManual 0 (keep all) or more");
        }

        try
        {
            options.ResolveSchedule();
        }
        catch (CronFormatException e)
        {
            failures.Add($"Backups:Schedule '{options.Schedule}' is not a 5-field cron expression ({e.Message}); e.g. '0 2 * * *' for 02:00 daily, or empty to turn it off");
        }

        try
        {
            options.ResolveRestoreTestSchedule();
        }
        catch (CronFormatException e)
        {
            failures.Add($"Backups:RestoreTestSchedule '{options.RestoreTestSchedule}' is not a 5-field cron expression ({e.Message}); e.g. '0 4 * * 0' for Sundays at 04:00, or empty to turn it off");
        }

        if (options.RestoreTestTimeout <= TimeSpan.Zero)
        {
            failures.Add("Backups:RestoreTestTimeout must be positive, e.g. 00:30:00");
        }

        try
        {
            options.ResolveTimeZone();
        }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            failures.Add($"Backups:TimeZone '{options.TimeZone}' is not a known time zone: use an IANA id such as Europe/Berlin, or leave it empty for the host's zone");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
