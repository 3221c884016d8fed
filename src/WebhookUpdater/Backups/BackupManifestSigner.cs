using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace WebhookUpdater.Backups;

/// <summary>What the signature of a manifest says about where it came from.</summary>
public enum ManifestTrust
{
    /// <summary>Signed with this installation's key, and unchanged since.</summary>
    Trusted,

    /// <summary>No signature: written before manifests were signed, or by hand.</summary>
    NoSignature,

    /// <summary>A signature that this installation's key did not make: changed in the store, or another installation's set.</summary>
    Mismatch,
}

/// <summary>
/// Signs manifests with Backups:SigningKey (HMAC-SHA256), a key that never leaves the service:
/// whoever can write to the bucket cannot make a set this installation restores, nor edit one.
/// The signature covers the whole manifest (id, containers, targets, sizes, checksums), so the
/// checksums it holds can be trusted to check the objects.
/// </summary>
public sealed class BackupManifestSigner(IOptions<BackupOptions> options)
{
    private const string Scheme = "hmac-sha256:";

    // Compact and fixed, so the bytes signed are the bytes checked whatever the store keeps.
    private static readonly JsonSerializerOptions Canonical = new(JsonSerializerDefaults.Web);
    private static readonly byte[] Domain = Encoding.UTF8.GetBytes("webhook-updater backup manifest\n");

    public BackupManifest Sign(BackupManifest manifest) => manifest with { Signature = Scheme + Compute(manifest) };

    public ManifestTrust Check(BackupManifest manifest)
    {
        if (string.IsNullOrEmpty(manifest.Signature))
        {
            return ManifestTrust.NoSignature;
        }

        var expected = Encoding.ASCII.GetBytes(Scheme + Compute(manifest));
        var actual = Encoding.UTF8.GetBytes(manifest.Signature);
        return CryptographicOperations.FixedTimeEquals(expected, actual) ? ManifestTrust.Trusted : ManifestTrust.Mismatch;
    }

    private string Compute(BackupManifest manifest)
    {
        var key = options.Value.SigningKeyBytes;
        if (key.Length == 0)
        {
            throw new InvalidOperationException("Backups:SigningKey is not set: set Backups__SigningKey_FILE to a file of at least 32 random bytes");
        }

        var body = JsonSerializer.SerializeToUtf8Bytes(manifest with { Signature = null }, Canonical);
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        hmac.AppendData(Domain);
        hmac.AppendData(body);
        return Convert.ToBase64String(hmac.GetHashAndReset()).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }
}
