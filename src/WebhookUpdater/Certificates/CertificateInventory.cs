using System.Formats.Tar;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using WebhookUpdater.Containers;

namespace WebhookUpdater.Certificates;

/// <summary>One certbot lineage as it is now: the certificate <c>live/NAME/cert.pem</c> points at.</summary>
/// <param name="Name">The lineage (certbot's --cert-name, the folder under live/).</param>
/// <param name="Fingerprint">SHA-256 of the certificate, hex: changes with every renewal.</param>
public sealed record LiveCertificate(
    string Name,
    IReadOnlyList<string> Domains,
    string Fingerprint,
    string Serial,
    DateTimeOffset NotBefore,
    DateTimeOffset NotAfter);

/// <summary>
/// Reads the certificates under <c>live/*/</c> through Docker's archive API. live/ holds only
/// symlinks into archive/, so it is listed first and each cert.pem target is then fetched alone:
/// private keys never leave the container.
/// </summary>
internal sealed class CertificateInventory(IContainerActions containers)
{
    private const int MaxLinkHops = 8;
    private const int MaxArchiveBytes = 4 * 1024 * 1024;

    public async Task<IReadOnlyList<LiveCertificate>> ReadAsync(string container, string configDirectory, CancellationToken cancellationToken)
    {
        var live = $"{configDirectory.TrimEnd('/')}/live";
        var pointers = new SortedDictionary<string, FilePointer>(StringComparer.Ordinal);
        await using (var tar = await containers.TryArchiveAsync(container, live, cancellationToken)
            ?? throw new RenewalSetupException(
                $"{live} does not exist in container {container}: set Certificates:ConfigDirectory to certbot's configuration directory (default /etc/letsencrypt) or obtain a certificate first."))
        {
            await foreach (var entry in EntriesAsync(tar, cancellationToken))
            {
                // The archive is rooted at the folder's own name: live/NAME/cert.pem. Nothing
                // else is read (a privkey.pem copied in as a file stays unread).
                var parts = entry.Name.TrimEnd('/').Split('/');
                if (parts.Length == 3 && parts[2] == "cert.pem")
                {
                    pointers[parts[1]] = new FilePointer(
                        $"{live}/{parts[1]}/cert.pem",
                        entry.EntryType is TarEntryType.SymbolicLink ? entry.LinkName : null,
                        await ContentAsync(entry, cancellationToken));
                }
            }
        }

        var certificates = new List<LiveCertificate>();
        foreach (var (name, pointer) in pointers)
        {
            var pem = pointer.Content ?? await FollowAsync(container, pointer, cancellationToken);
            certificates.Add(Parse(name, pem, container));
        }

        return certificates;
    }

    public static LiveCertificate Parse(string name, byte[] pem, string container)
    {
        var text = Encoding.ASCII.GetString(pem);
        if (!PemEncoding.TryFind(text, out var fields) || text[fields.Label] != "CERTIFICATE")
        {
            throw new RenewalSetupException($"live/{name}/cert.pem in container {container} holds no PEM certificate.");
        }

        using var certificate = X509CertificateLoader.LoadCertificate(Convert.FromBase64String(text[fields.Base64Data]));
        var domains = certificate.Extensions
            .Where(extension => extension.Oid?.Value == "2.5.29.17")
            .SelectMany(extension => new X509SubjectAlternativeNameExtension(extension.RawData, extension.Critical).EnumerateDnsNames())
            .ToList();
        if (domains.Count == 0)
        {
            domains.Add(certificate.GetNameInfo(X509NameType.SimpleName, false));
        }

        return new LiveCertificate(
            name,
            domains,
            certificate.GetCertHashString(HashAlgorithmName.SHA256),
            certificate.SerialNumber,
            new DateTimeOffset(certificate.NotBefore.ToUniversalTime()),
            new DateTimeOffset(certificate.NotAfter.ToUniversalTime()));
    }

    /// <summary>Resolves a symlink target the way the container would: relative to the link's folder.</summary>
    public static string ResolveLink(string linkPath, string target)
    {
        var start = target.StartsWith('/') ? [] : linkPath.Split('/', StringSplitOptions.RemoveEmptyEntries).SkipLast(1);
        var parts = new List<string>(start);
        foreach (var part in target.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == "..")
            {
                if (parts.Count > 0)
                {
                    parts.RemoveAt(parts.Count - 1);
                }
            }
            else if (part != ".")
            {
                parts.Add(part);
            }
        }

        return "/" + string.Join('/', parts);
    }

    private async Task<byte[]> FollowAsync(string container, FilePointer pointer, CancellationToken cancellationToken)
    {
        var path = pointer.Path;
        var link = pointer.LinkTarget;
        for (var hop = 0; hop < MaxLinkHops && link is not null; hop++)
        {
            path = ResolveLink(path, link);
            link = null;
            await using var tar = await containers.TryArchiveAsync(container, path, cancellationToken)
                ?? throw new RenewalSetupException($"{pointer.Path} points at {path}, which does not exist in container {container}: certbot's files are damaged.");
            await foreach (var entry in EntriesAsync(tar, cancellationToken))
            {
                if (entry.EntryType is TarEntryType.SymbolicLink)
                {
                    link = entry.LinkName;
                }
                else if (await ContentAsync(entry, cancellationToken) is { } content)
                {
                    return content;
                }

                break;
            }
        }

        throw new RenewalSetupException($"{pointer.Path} in container {container} does not lead to a file (more than {MaxLinkHops} links or an empty archive).");
    }

    /// <summary>The entries of a tar stream; an entry's data can be read until the next one is asked for.</summary>
    private static async IAsyncEnumerable<TarEntry> EntriesAsync(
        Stream tar, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Buffered whole first: Docker.DotNet's chunked stream ends early when TarReader reads
        // an entry's data piecewise (EndOfStreamException). These archives are a few KB.
        using var buffered = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await tar.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffered.Length + read > MaxArchiveBytes)
            {
                throw new RenewalSetupException($"an archive of certbot's live/ folder is larger than {MaxArchiveBytes / 1024 / 1024} MB: it should hold only links and READMEs.");
            }

            buffered.Write(chunk, 0, read);
        }

        buffered.Position = 0;
        await using var reader = new TarReader(buffered, leaveOpen: true);
        while (await reader.GetNextEntryAsync(copyData: false, cancellationToken) is { } entry)
        {
            yield return entry;
        }
    }

    private static async Task<byte[]?> ContentAsync(TarEntry entry, CancellationToken cancellationToken)
    {
        if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream is not { } data)
        {
            return null;
        }

        using var buffer = new MemoryStream();
        await data.CopyToAsync(buffer, cancellationToken);
        return buffer.ToArray();
    }

    private sealed record FilePointer(string Path, string? LinkTarget, byte[]? Content);
}

/// <summary>The renewal cannot start or read its certificates: a setting or the stack needs fixing.</summary>
public sealed class RenewalSetupException(string message) : Exception(message);
