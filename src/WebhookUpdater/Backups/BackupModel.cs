namespace WebhookUpdater.Backups;

public static class BackupKinds
{
    public const string PreUpdate = "pre-update";
    public const string Daily = "daily";
    public const string Manual = "manual";

    public static readonly string[] All = [PreUpdate, Daily, Manual];
}

/// <summary>How an object was made, and so how it is restored.</summary>
public static class BackupObjectTypes
{
    /// <summary>A gzipped tar of a path from Docker's archive API; restored through the same API.</summary>
    public const string Archive = "archive";

    /// <summary><c>pg_dump -Fc</c> of one database; restored with <c>pg_restore --clean --create</c>.</summary>
    public const string PostgresDump = "pg_dump";
}

/// <summary>One stored object of a set, with what was measured while it streamed.</summary>
/// <param name="Container">The container it came from (a set can hold a database container's dump too).</param>
/// <param name="Type">One of <see cref="BackupObjectTypes"/>.</param>
/// <param name="Target">The path (archive) or the database (pg_dump) it restores to.</param>
public sealed record BackupObject(string Name, string Source, long Size, string Sha256, string? Container = null, string Type = BackupObjectTypes.Archive, string? Target = null);

/// <summary>Written last: a set without a manifest is incomplete by definition.</summary>
/// <param name="Signature">HMAC of everything else with this installation's key (see <see cref="BackupManifestSigner"/>); null on sets written before signing.</param>
public sealed record BackupManifest(
    string Id,
    string Kind,
    DateTimeOffset CreatedAt,
    string? JobId,
    string Container,
    string? ImageId,
    IReadOnlyList<BackupObject> Objects,
    string? Signature = null);

/// <summary>A set as the store sees it: its folder or key prefix, whatever it holds.</summary>
/// <param name="Size">Bytes of every object under the set, manifest included.</param>
/// <param name="FirstWrite">When its oldest object was written.</param>
public sealed record StoredSet(string Id, long Size, DateTimeOffset FirstWrite, bool HasManifest);

/// <summary>Where backup sets go. The embedded default is a local folder; S3 comes behind the same door.</summary>
public interface IBackupStore
{
    /// <summary>Streams one object into the set, hashing and counting as it goes, and verifies what was stored.</summary>
    Task<BackupObject> PutAsync(string setId, string name, string source, Stream content, CancellationToken cancellationToken);

    /// <summary>Writes the manifest: only now is the set complete.</summary>
    Task CompleteAsync(BackupManifest manifest, CancellationToken cancellationToken);

    /// <summary>Removes whatever an unfinished set left behind.</summary>
    Task AbortAsync(string setId, CancellationToken cancellationToken);

    Task<BackupManifest?> ManifestAsync(string setId, CancellationToken cancellationToken);

    Task<Stream> OpenAsync(string setId, string name, CancellationToken cancellationToken);

    /// <summary>Every set in the store, complete or not.</summary>
    Task<IReadOnlyList<StoredSet>> ListAsync(CancellationToken cancellationToken);

    /// <summary>Deletes a set, its manifest first: a set half deleted is incomplete, never complete with holes.</summary>
    Task DeleteAsync(string setId, CancellationToken cancellationToken);

    /// <summary>Where the sets go, for logs and answers (no secrets).</summary>
    string Describe();
}

/// <summary>Set ids and object names that are safe as a folder name and as an S3 key part.</summary>
public static class BackupNames
{
    public const string ManifestName = "manifest.json";

    public static bool IsSafe(string name) =>
        name.Length is > 0 and <= 200 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') && !name.StartsWith('.');

    public static string Safe(string text)
    {
        var safe = new string(text.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_').ToArray());
        return safe.Length == 0 ? "root" : safe[..Math.Min(safe.Length, 60)];
    }

    /// <summary>
    /// {container}.{path or database}-{hash}.tar.gz|.pgdump: readable, and unique through a short
    /// hash of the container, type and full target (folding to '_' and the 60-character cut alone
    /// make /data/a.b and /data/a_b one name). Sets written before keep their names: a restore
    /// reads every name from the manifest.
    /// </summary>
    public static string ObjectName(string container, string type, string target)
    {
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes($"{container}\n{type}\n{target}")))[..8];
        return type == BackupObjectTypes.PostgresDump
            ? $"{Safe(container)}.{Safe(target)}-{hash}.pgdump"
            : $"{Safe(container)}.{Safe(target.Trim('/'))}-{hash}.tar.gz";
    }

    /// <summary>yyyyMMdd-HHmmss-{kind}-{container}-{random}: sorts by time, and says its kind even without a manifest.</summary>
    public static string NewSetId(DateTimeOffset now, string kind, string container) =>
        $"{now.UtcDateTime:yyyyMMdd-HHmmss}-{kind}-{Safe(container)}-{Guid.NewGuid().ToString("N")[..6]}";

    /// <summary>The kind a set id names, for sets that have no manifest.</summary>
    public static string? KindOf(string setId)
    {
        var rest = setId.Length > 16 ? setId[16..] : "";
        return BackupKinds.All.FirstOrDefault(kind => rest.StartsWith(kind + "-", StringComparison.Ordinal));
    }

    /// <summary>The container a set id names (as made safe), for sets that have no manifest.</summary>
    public static string? ContainerOf(string setId)
    {
        var kind = KindOf(setId);
        if (kind is null)
        {
            return null;
        }

        var rest = setId[(16 + kind.Length + 1)..];
        var dash = rest.LastIndexOf('-');
        return dash > 0 ? rest[..dash] : null;
    }
}

/// <summary>The manifest's JSON, the same in every store.</summary>
public static class BackupJson
{
    public static readonly System.Text.Json.JsonSerializerOptions Options = new(System.Text.Json.JsonSerializerDefaults.Web) { WriteIndented = true };
}

/// <summary>What was stored is not what was sent: the set must not be completed.</summary>
public sealed class BackupVerificationException(string message) : Exception(message);

/// <summary>The store refused or lost an upload.</summary>
public sealed class BackupStoreException(string message, Exception? inner = null) : Exception(message, inner);
