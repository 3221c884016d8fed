namespace WebhookUpdater.Backups;

public static class BackupKinds
{
    public const string PreUpdate = "pre-update";
    public const string Daily = "daily";
    public const string Manual = "manual";
}

/// <summary>One stored object of a set, with what was measured while it streamed.</summary>
public sealed record BackupObject(string Name, string Source, long Size, string Sha256);

/// <summary>Written last: a set without a manifest is incomplete by definition.</summary>
public sealed record BackupManifest(
    string Id,
    string Kind,
    DateTimeOffset CreatedAt,
    string? JobId,
    string Container,
    string? ImageId,
    IReadOnlyList<BackupObject> Objects);

/// <summary>Where backup sets go. The embedded default is a local folder; S3 comes behind the same door.</summary>
public interface IBackupStore
{
    /// <summary>Streams one object into the set, hashing and counting as it goes.</summary>
    Task<BackupObject> PutAsync(string setId, string name, string source, Stream content, CancellationToken cancellationToken);

    /// <summary>Writes the manifest: only now is the set complete.</summary>
    Task CompleteAsync(BackupManifest manifest, CancellationToken cancellationToken);

    /// <summary>Removes whatever an unfinished set left behind.</summary>
    Task AbortAsync(string setId, CancellationToken cancellationToken);

    Task<BackupManifest?> ManifestAsync(string setId, CancellationToken cancellationToken);

    Task<Stream> OpenAsync(string setId, string name, CancellationToken cancellationToken);
}
