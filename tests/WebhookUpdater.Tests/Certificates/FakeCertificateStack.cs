using System.Collections.Concurrent;
using System.Formats.Tar;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using WebhookUpdater.Containers;
using WebhookUpdater.Notifications;

namespace WebhookUpdater.Tests.Certificates;

/// <summary>
/// certbot's folders and the stack's containers in memory, for the decision tests: live/ as
/// symlinks into archive/ (as certbot writes them), a certbot run that may issue a new
/// certificate, and an nginx whose nginx -t / reload answers are set by the test.
/// </summary>
internal sealed class FakeCertificateStack : IContainerLookup, IContainerActions
{
    private readonly Dictionary<string, List<string>> _archive = [];

    public ConcurrentQueue<string> Calls { get; } = new();

    public Dictionary<string, string> RoleLabels { get; } = new() { ["certbot"] = "certbot", ["nginx"] = "nginx" };

    /// <summary>What the certbot one-off does: the names of the lineages it renews, and its exit code.</summary>
    public Func<(string[] Renews, long ExitCode)> Certbot { get; set; } = () => ([], 0);

    public long NginxTestExitCode { get; set; }

    public long NginxReloadExitCode { get; set; }

    public bool NginxRunning { get; set; } = true;

    /// <summary>A run that has started and waits for the test to let it finish.</summary>
    public TaskCompletionSource? HoldCertbot { get; set; }

    public void Issue(string name, TimeSpan validFor, DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(name);
        names.AddDnsName("www." + name);
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(now.AddMinutes(-1), now + validFor);
        if (!_archive.TryGetValue(name, out var versions))
        {
            _archive[name] = versions = [];
        }

        versions.Add(certificate.ExportCertificatePem());
    }

    public string CurrentSerial(string name)
    {
        using var certificate = X509Certificate2.CreateFromPem(_archive[name][^1]);
        return certificate.SerialNumber;
    }

    public Task<IReadOnlyList<ContainerInfo>> ListByLabelAsync(string key, string? value, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<ContainerInfo>>(key == "webhook-updater.role" && value is not null && RoleLabels.TryGetValue(value, out var name) ? [Info(name)] : []);

    public async Task<OneOffResult> RunOneOffAsync(OneOffRun run, int maxOutput, CancellationToken cancellationToken)
    {
        Calls.Enqueue($"run {run.Template}: {string.Join(' ', run.Command)}");
        if (HoldCertbot is { } hold)
        {
            await hold.Task.WaitAsync(cancellationToken);
        }

        var (renews, exitCode) = Certbot();
        foreach (var name in renews)
        {
            Issue(name, TimeSpan.FromDays(90), DateTimeOffset.UtcNow);
        }

        return new OneOffResult(exitCode, exitCode == 0 ? "Congratulations" : "Failed to renew certificate", false, "sha256:certbot");
    }

    public Task<Stream?> TryArchiveAsync(string nameOrId, string path, CancellationToken cancellationToken)
    {
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            if (path == "/etc/letsencrypt/live")
            {
                writer.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "live/"));
                foreach (var (name, versions) in _archive)
                {
                    writer.WriteEntry(new PaxTarEntry(TarEntryType.Directory, $"live/{name}/"));
                    writer.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, $"live/{name}/cert.pem") { LinkName = $"../../archive/{name}/cert{versions.Count}.pem" });
                    writer.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, $"live/{name}/privkey.pem") { LinkName = $"../../archive/{name}/privkey{versions.Count}.pem" });
                }
            }
            else if (path.StartsWith("/etc/letsencrypt/archive/", StringComparison.Ordinal))
            {
                var parts = path.Split('/');
                var name = parts[4];
                var version = int.Parse(parts[5]["cert".Length..^".pem".Length], System.Globalization.CultureInfo.InvariantCulture);
                var entry = new PaxTarEntry(TarEntryType.RegularFile, parts[5]) { DataStream = new MemoryStream(Encoding.ASCII.GetBytes(_archive[name][version - 1])) };
                writer.WriteEntry(entry);
            }
            else
            {
                return Task.FromResult<Stream?>(null);
            }
        }

        tar.Position = 0;
        return Task.FromResult<Stream?>(tar);
    }

    public Task RemoveLeftoversAsync(string key, string value, CancellationToken cancellationToken) => Task.CompletedTask;

    // The backup side of the lifecycle: renewal never calls it.
    public Task<IExecOutput> ExecReadAsync(string nameOrId, IReadOnlyList<string> command, IReadOnlyList<string> environment, CancellationToken cancellationToken) =>
        throw new NotSupportedException();

    public Task<ExecResult> ExecWriteAsync(string nameOrId, IReadOnlyList<string> command, IReadOnlyList<string> environment, Stream input, CancellationToken cancellationToken) =>
        throw new NotSupportedException();

    public Task<IReadOnlyList<string>?> EnvironmentAsync(string nameOrId, CancellationToken cancellationToken) =>
        throw new NotSupportedException();

    public Task<IReadOnlyList<ContainerInfo>> ListAsync(CancellationToken cancellationToken) =>
        throw new NotSupportedException();

    public Task<ContainerInfo?> FindAsync(string nameOrId, CancellationToken cancellationToken) =>
        Task.FromResult<ContainerInfo?>(Info(nameOrId));

    private ContainerInfo Info(string name) =>
        new(name, name, "nginx", "sha256:x", NginxRunning ? "running" : "exited", NginxRunning, false, 0, 0, null, new Dictionary<string, string>(), [], []);

    public Task<ExecResult> ExecAsync(string nameOrId, IReadOnlyList<string> command, TimeSpan budget, CancellationToken cancellationToken)
    {
        var line = string.Join(' ', command);
        Calls.Enqueue($"exec {nameOrId}: {line}");
        return Task.FromResult(line switch
        {
            "nginx -t" => new ExecResult(NginxTestExitCode, NginxTestExitCode == 0 ? "nginx: configuration file /etc/nginx/nginx.conf test is successful" : "nginx: [emerg] unknown directive \"oops\""),
            "nginx -s reload" => new ExecResult(NginxReloadExitCode, NginxReloadExitCode == 0 ? "" : "nginx: [error] invalid PID number"),
            _ => new ExecResult(127, "unknown command"),
        });
    }

    public Task StopAsync(string nameOrId, CancellationToken cancellationToken)
    {
        Calls.Enqueue($"stop {nameOrId}");
        return Task.CompletedTask;
    }

    public Task StartAsync(string nameOrId, CancellationToken cancellationToken)
    {
        Calls.Enqueue($"start {nameOrId}");
        return Task.CompletedTask;
    }

    public Task PauseAsync(string nameOrId, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task UnpauseAsync(string nameOrId, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task<ContainerImage> PullAsync(ImageReference image, IProgress<string> progress, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task<IReadOnlyList<ContainerInfo>> FindByRepositoryAsync(ImageReference repository, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task<ContainerImage?> ImageAsync(string reference, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task<string> PingAsync(CancellationToken cancellationToken) => Task.FromResult("fake engine");

    public Task<string> RunThrowawayAsync(string name, string image, IReadOnlyList<string> environment, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task RemoveThrowawayAsync(string nameOrId, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task<string> CreateVolumeHolderAsync(string name, string image, IReadOnlyList<DataMount> mounts, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task<Stream> ArchiveAsync(string nameOrId, string path, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task ExtractAsync(string nameOrId, string path, Stream tar, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task RenameAsync(string nameOrId, string newName, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task RemoveAsync(string nameOrId, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task<string> CreateLikeAsync(string template, string name, string image, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task<string> LogTailAsync(string nameOrId, int lines, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task<ExecResult> RunWithVolumesOfAsync(string volumesOf, string image, IReadOnlyList<string> command, TimeSpan timeout, CancellationToken cancellationToken) => throw new NotSupportedException();
}

internal sealed class RecordingNotifier : INotifier
{
    public ConcurrentQueue<Notification> Sent { get; } = new();

    public Task NotifyAsync(Notification notification, CancellationToken cancellationToken)
    {
        Sent.Enqueue(notification);
        return Task.CompletedTask;
    }
}
