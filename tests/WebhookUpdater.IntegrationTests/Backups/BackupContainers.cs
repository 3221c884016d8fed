#nullable disable warnings
using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;
using Docker.DotNet.Models;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Backups;

/// <summary>Real containers for the backup tests: PostgreSQL (built from Debian packages) and the gitea stand-in.</summary>
internal static class BackupContainers
{
    public static string PostgresImage => $"{TestEnvironment.ImagePrefix}/postgres:15";

    /// <summary>A PostgreSQL 15 container on the host network, labelled for pg_dump, healthy.</summary>
    public static async Task<string> RunPostgresAsync(this DockerFixture docker, string name, string database, IDictionary<string, string> labels = null)
    {
        await docker.EnsureImageAsync(PostgresImage);
        var allLabels = docker.RunLabels(labels);
        allLabels["backup.postgres"] = "true";
        var created = await docker.Client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Name = name,
            Image = PostgresImage,
            Labels = allLabels,
            Env = ["POSTGRES_USER=gitea", "POSTGRES_PASSWORD=it-db-password", $"POSTGRES_DB={database}", $"PGPORT={DockerFixture.FreePort()}"],
            HostConfig = new HostConfig { NetworkMode = "host" },
        });
        await docker.Client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters());
        await docker.WaitHealthyAsync(created.ID, TimeSpan.FromSeconds(90));
        return created.ID;
    }

    /// <summary>Runs SQL through psql in the container (as its POSTGRES_USER) and returns its output, trimmed.</summary>
    public static async Task<string> PsqlAsync(this DockerFixture docker, string container, string database, string sql)
    {
        var (exitCode, stdout, stderr) = await docker.ExecAsync(container, ["psql", "-U", "gitea", "-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql]);
        Assert.True(exitCode == 0, $"psql failed ({exitCode}): {stderr}");
        return stdout.Trim();
    }

    public static Task<(long ExitCode, string Stdout, string Stderr)> ExecAsync(this DockerFixture docker, string container, IList<string> command) =>
        docker.Client.ExecAsync(container, command);

    public static async Task<(long ExitCode, string Stdout, string Stderr)> ExecAsync(this Docker.DotNet.DockerClient client, string container, IList<string> command)
    {
        var exec = await client.Exec.CreateContainerExecAsync(container, new ContainerExecCreateParameters { Cmd = command, AttachStdout = true, AttachStderr = true });
        using var stream = await client.Exec.StartContainerExecAsync(exec.ID, new ContainerExecStartParameters());
        var (stdout, stderr) = await stream.ReadOutputToEndAsync(CancellationToken.None);
        var inspect = await client.Exec.InspectContainerExecAsync(exec.ID);
        for (var i = 0; inspect.Running && i < 50; i++)
        {
            await Task.Delay(100);
            inspect = await client.Exec.InspectContainerExecAsync(exec.ID);
        }

        return (inspect.ExitCode ?? -1, stdout, stderr);
    }

    /// <summary>Puts files (path relative to <paramref name="directory"/> → content) into a container through the archive API.</summary>
    public static async Task WriteFilesAsync(this DockerFixture docker, string container, string directory, IReadOnlyDictionary<string, byte[]> files)
    {
        using var tar = new MemoryStream();
        await using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var (path, content) in files)
            {
                var entry = new PaxTarEntry(TarEntryType.RegularFile, path) { DataStream = new MemoryStream(content), Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead };
                await writer.WriteEntryAsync(entry);
            }
        }

        tar.Position = 0;
        await docker.Client.Containers.ExtractArchiveToContainerAsync(container, new CopyToContainerParameters { Path = directory }, tar);
    }

    /// <summary>Every regular file under a path of the container (archive API), as path → sha256, plus directories as path → "dir".</summary>
    public static async Task<SortedDictionary<string, string>> TreeAsync(this DockerFixture docker, string container, string path)
    {
        var archive = await docker.Client.Containers.GetArchiveFromContainerAsync(container, new ContainerPathStatParameters { Path = path }, false);
        var tree = new SortedDictionary<string, string>(StringComparer.Ordinal);
        // TarReader's exact reads trip Docker.DotNet's chunked stream; a plain copy does not.
        using var copy = new MemoryStream();
        await archive.Stream.CopyToAsync(copy);
        copy.Position = 0;
        await using var reader = new TarReader(copy);
        while (await reader.GetNextEntryAsync() is { } entry)
        {
            var name = entry.Name.TrimEnd('/');
            if (entry.EntryType == TarEntryType.Directory)
            {
                tree[name] = "dir";
            }
            else if (entry.DataStream is not null)
            {
                tree[name] = Convert.ToHexStringLower(await SHA256.HashDataAsync(entry.DataStream));
            }
            else
            {
                tree[name] = entry.EntryType.ToString();
            }
        }

        return tree;
    }

    public static byte[] Text(string text) => Encoding.UTF8.GetBytes(text);
}
