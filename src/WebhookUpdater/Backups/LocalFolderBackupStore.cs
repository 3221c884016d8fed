using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.Options;
using WebhookUpdater.Persistence;

namespace WebhookUpdater.Backups;

/// <summary>
/// Backup sets as folders under {data}/backups/{set id}/: one file per object and a
/// manifest.json written last (through a temporary name, so it is whole or absent).
/// </summary>
public sealed class LocalFolderBackupStore(IOptions<StoreOptions> store) : IBackupStore
{
    private string Root => Path.Combine(Path.GetFullPath(store.Value.DataDirectory), "backups");

    public async Task<BackupObject> PutAsync(string setId, string name, string source, Stream content, CancellationToken cancellationToken)
    {
        var folder = SetFolder(setId);
        Directory.CreateDirectory(folder);
        var path = ObjectPath(setId, name);
        var partial = path + ".partial";
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long size = 0;
        await using (var file = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 81920, useAsync: true))
        {
            var buffer = new byte[81920];
            int read;
            while ((read = await content.ReadAsync(buffer, cancellationToken)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                size += read;
            }

            await file.FlushAsync(cancellationToken);
            file.Flush(flushToDisk: true);
        }

        File.Move(partial, path, overwrite: true);
        var written = new FileInfo(path).Length;
        if (written != size)
        {
            throw new IOException($"backup object {name}: wrote {size} bytes, the file has {written}");
        }

        return new BackupObject(name, source, size, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }

    public async Task CompleteAsync(BackupManifest manifest, CancellationToken cancellationToken)
    {
        var path = Path.Combine(SetFolder(manifest.Id), BackupNames.ManifestName);
        var partial = path + ".partial";
        await using (var file = File.Create(partial))
        {
            await JsonSerializer.SerializeAsync(file, manifest, BackupJson.Options, cancellationToken);
            file.Flush(flushToDisk: true);
        }

        File.Move(partial, path, overwrite: true);
    }

    public Task AbortAsync(string setId, CancellationToken cancellationToken)
    {
        var folder = SetFolder(setId);
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }

        return Task.CompletedTask;
    }

    public async Task<BackupManifest?> ManifestAsync(string setId, CancellationToken cancellationToken)
    {
        var path = Path.Combine(SetFolder(setId), BackupNames.ManifestName);
        if (!File.Exists(path))
        {
            return null;
        }

        await using var file = File.OpenRead(path);
        return await JsonSerializer.DeserializeAsync<BackupManifest>(file, BackupJson.Options, cancellationToken);
    }

    public Task<Stream> OpenAsync(string setId, string name, CancellationToken cancellationToken) =>
        Task.FromResult<Stream>(new FileStream(ObjectPath(setId, name), FileMode.Open, FileAccess.Read, FileShare.Read, 81920, useAsync: true));

    public Task<IReadOnlyList<StoredSet>> ListAsync(CancellationToken cancellationToken)
    {
        var root = new DirectoryInfo(Root);
        if (!root.Exists)
        {
            return Task.FromResult<IReadOnlyList<StoredSet>>([]);
        }

        var sets = root.EnumerateDirectories()
            .Where(folder => BackupNames.IsSafe(folder.Name))
            .Select(folder =>
            {
                var files = folder.GetFiles();
                var first = files.Length == 0 ? folder.CreationTimeUtc : files.Min(file => file.LastWriteTimeUtc);
                return new StoredSet(
                    folder.Name,
                    files.Sum(file => file.Length),
                    new DateTimeOffset(first, TimeSpan.Zero),
                    files.Any(file => file.Name == BackupNames.ManifestName));
            })
            .OrderBy(set => set.Id, StringComparer.Ordinal)
            .ToList();
        return Task.FromResult<IReadOnlyList<StoredSet>>(sets);
    }

    public Task DeleteAsync(string setId, CancellationToken cancellationToken)
    {
        var manifest = Path.Combine(SetFolder(setId), BackupNames.ManifestName);
        if (File.Exists(manifest))
        {
            File.Delete(manifest);
        }

        return AbortAsync(setId, cancellationToken);
    }

    public string Describe() => $"local folder {Root}";

    private string SetFolder(string setId) =>
        BackupNames.IsSafe(setId) ? Path.Combine(Root, setId) : throw new ArgumentException($"'{setId}' is not a backup set id", nameof(setId));

    private string ObjectPath(string setId, string name) =>
        BackupNames.IsSafe(name) ? Path.Combine(SetFolder(setId), name) : throw new ArgumentException($"'{name}' is not a backup object name", nameof(name));
}
