using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Docker.DotNet.Models;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Certificates;

/// <summary>Where pebble (scripts/testenv/pebble.sh) serves ACME, and the CA of its own HTTPS listener.</summary>
internal static class Pebble
{
    public static string DirectoryUrl =>
        Environment.GetEnvironmentVariable("WU_TEST_PEBBLE_DIRECTORY") is { Length: > 0 } url ? url : "https://127.0.0.1:14000/dir";

    public static string CaFile =>
        Environment.GetEnvironmentVariable("WU_TEST_PEBBLE_CA") is { Length: > 0 } file ? file : DefaultCaFile();

    /// <summary>Fails (CI) or skips the test when pebble does not answer over TLS with its CA.</summary>
    public static async Task RequireAsync()
    {
        try
        {
            using var ca = X509CertificateLoader.LoadCertificateFromFile(CaFile);
            using var handler = new HttpClientHandler
            {
                ServerCertificateCustomValidationCallback = (_, certificate, chain, _) =>
                {
                    if (certificate is null || chain is null)
                    {
                        return false;
                    }

                    chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.CustomTrustStore.Add(ca);
                    chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    return chain.Build(certificate);
                },
            };
            using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(5) };
            (await http.GetAsync(new Uri(DirectoryUrl))).EnsureSuccessStatusCode();
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException or System.Security.Cryptography.CryptographicException)
        {
            TestEnvironment.Unavailable($"pebble at {DirectoryUrl} (CA {CaFile})", e);
        }
    }

    private static string DefaultCaFile()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "scripts", "testenv", ".state", "pebble", "ca.pem");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return "/nonexistent/pebble-ca.pem";
    }
}

/// <summary>
/// The certificate part of the stack, real, on the engine under test: a certbot volume holding a
/// certificate issued by pebble, the stack's certbot service container (created, never started,
/// like a compose service run on demand), and nginx serving that certificate over HTTPS on a
/// loopback port. Each test gets its own domain, volume, port and containers.
/// </summary>
internal sealed class CertificateStack : IAsyncDisposable
{
    public const string RoleLabel = "webhook-updater.role";
    private const string CaInContainer = "/pebble-ca.pem";

    private readonly DockerFixture _docker;
    private readonly string _confDirectory;
    private readonly List<string> _containers = [];

    private CertificateStack(DockerFixture docker, string role)
    {
        _docker = docker;
        var engine = TestEnvironment.Engine.ToLowerInvariant();
        Domain = $"{role}-{docker.RunId}-{engine}.example.com";
        Volume = docker.Name($"{role}-letsencrypt");
        CertbotContainer = docker.Name($"{role}-certbot");
        NginxContainer = docker.Name($"{role}-nginx");
        Port = DockerFixture.FreePort();
        _confDirectory = Directory.CreateTempSubdirectory("wu-it-nginx-").FullName;
    }

    public string Domain { get; }

    public string Volume { get; }

    public string CertbotContainer { get; }

    public string NginxContainer { get; }

    public int Port { get; }

    public static string CertbotImage => $"{TestEnvironment.ImagePrefix}/certbot:2";

    public static string NginxImage => $"{TestEnvironment.ImagePrefix}/nginx:1";

    /// <summary>Obtains a certificate from pebble, then creates the certbot service and starts nginx on it.</summary>
    /// <param name="labelled">Give both containers the role labels (otherwise the service is told their names).</param>
    public static async Task<CertificateStack> StartAsync(DockerFixture docker, string role, bool labelled = false)
    {
        docker.Require();
        await Pebble.RequireAsync();
        await docker.EnsureImageAsync(CertbotImage);
        await docker.EnsureImageAsync(NginxImage);
        var stack = new CertificateStack(docker, role);
        try
        {
            await docker.Client.Volumes.CreateAsync(new VolumesCreateParameters
            {
                Name = stack.Volume,
                Labels = new Dictionary<string, string> { [DockerFixture.TestLabel] = "true" },
            });
            await stack.CertbotAsync(
                "certonly", "--non-interactive", "--agree-tos", "--register-unsafely-without-email",
                "--server", Pebble.DirectoryUrl, "--webroot", "-w", "/var/lib/letsencrypt",
                "--cert-name", stack.Domain, "-d", stack.Domain);

            var certbot = await docker.Client.Containers.CreateContainerAsync(new CreateContainerParameters
            {
                Name = stack.CertbotContainer,
                Image = CertbotImage,
                Cmd = ["--version"],
                Env = [$"REQUESTS_CA_BUNDLE={CaInContainer}"],
                Labels = stack.Labels(labelled ? "certbot" : null),
                HostConfig = new HostConfig { NetworkMode = "host", Binds = stack.CertbotBinds() },
            });
            stack._containers.Add(certbot.ID);

            await stack.WriteNginxConfigAsync(valid: true);
            var nginx = await docker.Client.Containers.CreateContainerAsync(new CreateContainerParameters
            {
                Name = stack.NginxContainer,
                Image = NginxImage,
                Labels = stack.Labels(labelled ? "nginx" : null),
                HostConfig = new HostConfig
                {
                    NetworkMode = "host",
                    Binds = [$"{stack.Volume}:/etc/letsencrypt:ro", $"{stack._confDirectory}:/etc/nginx/conf.d:ro"],
                },
            });
            stack._containers.Add(nginx.ID);
            await docker.Client.Containers.StartContainerAsync(nginx.ID, new ContainerStartParameters());
            await stack.WaitUntilServingAsync();
            return stack;
        }
        catch
        {
            await stack.DisposeAsync();
            throw;
        }
    }

    /// <summary>Settings that point the service at this stack by name.</summary>
    public Dictionary<string, string?> NamedSettings() => new()
    {
        ["Certificates:CertbotContainer"] = CertbotContainer,
        ["Certificates:NginxContainer"] = NginxContainer,
    };

    /// <summary>certbot's own renewal configuration: renew when fewer than 3650 days are left (pebble issues for 5 years).</summary>
    public Task MakeDueAsync() =>
        ShellAsync($"sed -i '1i renew_before_expiry = 3650 days' /etc/letsencrypt/renewal/{Domain}.conf");

    /// <summary>Points the lineage at an ACME server where nothing listens.</summary>
    public Task PointAtDeadAcmeServerAsync(int port) =>
        ShellAsync($"sed -i 's#^server = .*#server = https://127.0.0.1:{port}/dir#' /etc/letsencrypt/renewal/{Domain}.conf");

    /// <summary>Rewrites nginx's site so that nginx -t fails; the running nginx keeps its loaded configuration.</summary>
    public Task BreakNginxConfigAsync() => WriteNginxConfigAsync(valid: false);

    /// <summary>
    /// Makes nginx -t block for good: the site includes a named pipe nobody writes to, so nginx
    /// waits in open(). The running nginx never reads it (it is not reloaded).
    /// </summary>
    public async Task HangNginxConfigTestAsync()
    {
        var fifo = Path.Combine(_confDirectory, "hang.fifo");
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", [fifo]))
        {
            await mkfifo.WaitForExitAsync();
            Assert.Equal(0, mkfifo.ExitCode);
        }

        var site = Path.Combine(_confDirectory, "site.conf");
        await File.WriteAllTextAsync(site, (await File.ReadAllTextAsync(site)).Replace("server_name", "include /etc/nginx/conf.d/hang.fifo;\n    server_name", StringComparison.Ordinal));
    }

    /// <summary>Puts the working site back.</summary>
    public Task RepairNginxConfigAsync() => WriteNginxConfigAsync(valid: true);

    /// <summary>The serial of the certificate nginx serves now, over a real TLS connection to 127.0.0.1.</summary>
    public async Task<string> ServedSerialAsync()
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", Port);
        // Only the serial matters here; pebble signs with a CA it makes up at each start.
        await using var tls = new SslStream(tcp.GetStream(), false, (_, certificate, _, _) => certificate is not null);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = Domain });
        using var served = new X509Certificate2(tls.RemoteCertificate!);
        return served.SerialNumber;
    }

    /// <summary>The served serial once it is <paramref name="expected"/>, or whatever is served after 15 s.</summary>
    public async Task<string> ServedSerialEventuallyAsync(string expected)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            var served = await ServedSerialAsync();
            if (served == expected || DateTime.UtcNow > deadline)
            {
                return served;
            }

            await Task.Delay(100);
        }
    }

    /// <summary>The worker PIDs once they satisfy <paramref name="condition"/> (old workers finish their requests first), or after 15 s.</summary>
    public async Task<IReadOnlySet<string>> WorkerPidsEventuallyAsync(Func<IReadOnlySet<string>, bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            var workers = await WorkerPidsAsync();
            if (condition(workers) || DateTime.UtcNow > deadline)
            {
                return workers;
            }

            await Task.Delay(100);
        }
    }

    public async Task<bool> NginxRunningAsync() =>
        (await _docker.Client.Containers.InspectContainerAsync(NginxContainer)).State?.Running == true;

    public async Task<string> NginxStartedAtAsync() =>
        (await _docker.Client.Containers.InspectContainerAsync(NginxContainer)).State?.StartedAt ?? "";

    /// <summary>
    /// PIDs of nginx's serving worker processes: a reload (or restart) replaces them all, so a
    /// set that did not change means nginx was not reloaded.
    /// </summary>
    public async Task<IReadOnlySet<string>> WorkerPidsAsync()
    {
        var top = await _docker.Client.Containers.ListProcessesAsync(NginxContainer, new ContainerListProcessesParameters());
        var titles = top.Titles ?? [];
        var pid = titles.IndexOf("PID");
        var command = titles.Count - 1;
        return (top.Processes ?? [])
            .Where(row => row[command].Contains("worker process", StringComparison.Ordinal) && !row[command].Contains("shutting down", StringComparison.Ordinal))
            .Select(row => row[pid])
            .ToHashSet();
    }

    private Dictionary<string, string> Labels(string? role)
    {
        var labels = _docker.RunLabels();
        if (role is not null)
        {
            labels[RoleLabel] = role;
        }

        return labels;
    }

    private List<string> CertbotBinds() => [$"{Volume}:/etc/letsencrypt", $"{Pebble.CaFile}:{CaInContainer}:ro"];

    private async Task WriteNginxConfigAsync(bool valid)
    {
        var config = valid
            ? $$"""
              server {
                  listen 127.0.0.1:{{Port}} ssl;
                  server_name {{Domain}};
                  ssl_certificate /etc/letsencrypt/live/{{Domain}}/fullchain.pem;
                  ssl_certificate_key /etc/letsencrypt/live/{{Domain}}/privkey.pem;
                  location / {
                      default_type text/plain;
                      return 200 "ok\n";
                  }
              }
              """
            : $$"""
              server {
                  listen 127.0.0.1:{{Port}} ssl;
                  server_name {{Domain}};
                  ssl_certificate /etc/letsencrypt/live/{{Domain}}/fullchain.pem;
                  this_is_not_an_nginx_directive on;
              }
              """;
        await File.WriteAllTextAsync(Path.Combine(_confDirectory, "site.conf"), config);
    }

    private async Task WaitUntilServingAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            try
            {
                await ServedSerialAsync();
                return;
            }
            catch (Exception e) when (e is SocketException or IOException or System.Security.Authentication.AuthenticationException && DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }
        }
    }

    private Task CertbotAsync(params string[] arguments) =>
        RunAsync(["certbot"], arguments, CertbotBinds(), "certbot");

    private Task ShellAsync(string script) =>
        RunAsync(["sh", "-c"], [script], [$"{Volume}:/etc/letsencrypt"], "shell");

    /// <summary>A helper container on the certbot image; fails the test with its output when it fails.</summary>
    private async Task RunAsync(IList<string> entrypoint, IList<string> arguments, IList<string> binds, string what)
    {
        var created = await _docker.Client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Image = CertbotImage,
            Entrypoint = entrypoint,
            Cmd = arguments,
            Env = [$"REQUESTS_CA_BUNDLE={CaInContainer}"],
            Labels = Labels(null),
            HostConfig = new HostConfig { NetworkMode = "host", Binds = binds },
        });
        try
        {
            await _docker.Client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters());
            var exit = await _docker.Client.Containers.WaitContainerAsync(created.ID);
            if (exit.StatusCode != 0)
            {
                using var logs = await _docker.Client.Containers.GetContainerLogsAsync(created.ID, new ContainerLogsParameters { ShowStdout = true, ShowStderr = true });
                var (stdout, stderr) = await logs.ReadOutputToEndAsync(CancellationToken.None);
                Assert.Fail($"{what} helper exited with {exit.StatusCode}: {stdout}{stderr}");
            }
        }
        finally
        {
            await RemoveQuietlyAsync(created.ID);
        }
    }

    /// <summary>Another test run's clean-up (wu.test=true) may be removing it at the same moment.</summary>
    private async Task RemoveQuietlyAsync(string id)
    {
        try
        {
            await _docker.Client.Containers.RemoveContainerAsync(id, new ContainerRemoveParameters { Force = true });
        }
        catch (Docker.DotNet.DockerApiException e) when (e.StatusCode is System.Net.HttpStatusCode.NotFound or System.Net.HttpStatusCode.Conflict)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var id in _containers)
        {
            await RemoveQuietlyAsync(id);
        }

        try
        {
            await _docker.Client.Volumes.RemoveAsync(Volume, force: true);
        }
        catch (Docker.DotNet.DockerApiException)
        {
        }

        Directory.Delete(_confDirectory, recursive: true);
    }
}
