#nullable enable annotations
#nullable disable warnings
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Docker.DotNet;
using Docker.DotNet.Models;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Deployment;

/// <summary>
/// The stack as an operator gets it, started once for its test class on engine S (its own network
/// namespace, scripts/testenv/stack-engine.sh): a copy of compose/ and diun.yml, a .env made from
/// .env.example by filling in the section it marks as the operator's, naming the SES endpoint
/// (Email__Ses__ServiceUrl) and the Docker socket, and swapping the image names for the local
/// stand-ins. No override file, no other setting changed: the bridge network, the subnet and the
/// published ports 80 and 443 are the shipped ones, and exist only inside the namespace.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ShippedStack : IAsyncLifetime
{
    public const string Domain = "git.example.test";
    public const string Operator = "ops@example.test";

    private readonly string _root = Directory.CreateTempSubdirectory("wu-shipped-").FullName;
    private FileStream _engineLock;
    private string _failure;
    private string _certificate;

    public DockerClient Docker { get; } = new DockerClientBuilder().WithEndpoint(new Uri(StackNamespace.DockerHost)).Build();

    public string Project { get; } = $"wu-shipped-{Guid.NewGuid().ToString("N")[..8]}";

    public string ComposeDirectory => Path.Combine(_root, "compose");

    /// <summary>Service name → container id, once all are healthy.</summary>
    public Dictionary<string, string> Containers { get; private set; } = [];

    /// <summary>nginx as the outside world reaches it: the published HTTPS port inside the namespace.</summary>
    public static IPEndPoint Https => new(IPAddress.Loopback, 443);

    public static IPEndPoint Http => new(IPAddress.Loopback, 80);

    public static Dictionary<string, string?> DockerEnvironment => new()
    {
        ["DOCKER_HOST"] = StackNamespace.DockerHost,
        ["DOCKER_BUILDKIT"] = "0",
        ["DOCKER_CLI_HINTS"] = "false",
    };

    public string Secret(string name) => File.ReadAllText(Path.Combine(ComposeDirectory, "secrets", name)).Trim();

    public async ValueTask InitializeAsync()
    {
        StackNamespace.Require();
        ComposeFileTests.DockerCompose();
        _engineLock = await LockEngineAsync();
        try
        {
            await PrepareAsync();
            await UpAsync();
            Containers = await WaitAllHealthyAsync(TimeSpan.FromMinutes(3));
            await StartSesEmulatorAsync();
        }
        catch (Exception e) when (e is not Xunit.Sdk.SkipException)
        {
            _failure = e.ToString();
        }
    }

    /// <summary>Call first in every test: the stack started, or why not.</summary>
    public void Require()
    {
        StackNamespace.Require();
        Assert.True(_failure is null, _failure);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Cli.RunAsync(UpdaterImage.Docker(), ["rm", "-f", "-v", SesContainer], environment: DockerEnvironment);
            if (File.Exists(Path.Combine(ComposeDirectory, ".env")))
            {
                var down = await ComposeAsync(["down", "-v", "--remove-orphans", "-t", "5"], TimeSpan.FromMinutes(3));
                Assert.True(down.ExitCode == 0, down.Describe("docker-compose down -v"));
            }
        }
        finally
        {
            Directory.Delete(_root, recursive: true);
            _engineLock?.Dispose();
            Docker.Dispose();
        }
    }

    internal Task<Cli.Result> ComposeAsync(IEnumerable<string> args, TimeSpan timeout) =>
        Cli.RunAsync(ComposeFileTests.DockerCompose(), ["-p", Project, .. args], ComposeDirectory, DockerEnvironment, timeout);

    public Task<string> ExecAsync(string service, string script) => ExecAsync(service, ["sh", "-c", script], []);

    public async Task<string> ExecAsync(string service, IList<string> command, IList<string> environment)
    {
        var exec = await Docker.Exec.CreateContainerExecAsync(Containers[service], new ContainerExecCreateParameters { Cmd = command, Env = environment, AttachStdout = true, AttachStderr = true });
        using var stream = await Docker.Exec.StartContainerExecAsync(exec.ID, new ContainerExecStartParameters());
        var (stdout, stderr) = await stream.ReadOutputToEndAsync(CancellationToken.None);
        return stdout + stderr;
    }

    /// <summary>The address of a service's container on the stack's network (reachable inside the namespace only).</summary>
    public async Task<IPAddress> AddressAsync(string service)
    {
        var inspect = await Docker.Containers.InspectContainerAsync(Containers[service]);
        return IPAddress.Parse(inspect.NetworkSettings.Networks[$"{Project}_default"].IPAddress);
    }

    public static string Url(string path) => $"https://{Domain}{path}";

    public const string SesPort = "8005";

    private string SesContainer => $"{Project}-ses";

    /// <summary>The ports 80 and 443 of the namespace are the stack's: one stack test at a time, across test runs.</summary>
    private static async Task<FileStream> LockEngineAsync()
    {
        var path = Path.Combine(Path.GetDirectoryName(StackNamespace.SocketPath)!, "stack-test.lock");
        for (var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(10); ; await Task.Delay(1000))
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                // Another run's stack test holds engine S.
            }
        }
    }

    /// <summary>
    /// What an operator does before the first start: copy the files, write .env from the example,
    /// run init-secrets.sh, put the AWS keys in, and obtain a certificate into the letsencrypt volume
    /// (here a self-made one, written by a one-off run of the certbot service).
    /// </summary>
    private async Task PrepareAsync()
    {
        var updaterImage = await MoveUpdaterImageAsync();
        CopyDirectory(DeploymentFiles.ComposeDirectory, ComposeDirectory);
        File.Copy(DeploymentFiles.DiunConfig, Path.Combine(_root, "diun.yml"));
        // A developer's own .env or secrets/ in the checkout are not the operator's.
        File.Delete(Path.Combine(ComposeDirectory, ".env"));
        if (Directory.Exists(Path.Combine(ComposeDirectory, "secrets")))
        {
            Directory.Delete(Path.Combine(ComposeDirectory, "secrets"), recursive: true);
        }

        var group = await Cli.RunAsync("stat", ["-c", "%g", StackNamespace.SocketPath]);
        Assert.True(group.ExitCode == 0, group.Describe("stat of engine S's socket"));
        var yours = new Dictionary<string, string>
        {
            ["DOMAIN"] = Domain,
            ["LETSENCRYPT_EMAIL"] = Operator,
            ["Email__From"] = "updates@example.test",
            ["Email__To"] = Operator,
            ["AWS_REGION"] = "eu-central-1",
            ["DOCKER_GID"] = group.Stdout.Trim(),
        };
        var chosen = new Dictionary<string, string>
        {
            // The socket of the engine the stack runs on (the host's default is another engine's).
            ["DOCKER_SOCKET"] = StackNamespace.SocketPath,
            // An SES-compatible endpoint, named as an operator names a relay or VPC endpoint.
            ["Email__Ses__ServiceUrl"] = $"http://ses:{SesPort}",
            ["POSTGRES_IMAGE"] = $"{TestEnvironment.ImagePrefix}/postgres:15",
            ["GITEA_IMAGE"] = $"{TestEnvironment.ImagePrefix}/stack-gitea:1",
            ["NGINX_IMAGE"] = $"{TestEnvironment.ImagePrefix}/stack-nginx:1",
            ["CERTBOT_IMAGE"] = $"{TestEnvironment.ImagePrefix}/certbot:2",
            ["DIUN_IMAGE"] = $"{TestEnvironment.ImagePrefix}/stack-diun:1",
            ["WEBHOOK_UPDATER_IMAGE"] = updaterImage,
        };
        await File.WriteAllTextAsync(Path.Combine(ComposeDirectory, ".env"), DeploymentFiles.OperatorEnv(await File.ReadAllTextAsync(DeploymentFiles.EnvExample), yours, chosen));

        var init = await Cli.RunAsync("/bin/sh", ["./init-secrets.sh"], ComposeDirectory);
        Assert.True(init.ExitCode == 0, init.Describe("init-secrets.sh"));
        var secrets = Path.Combine(ComposeDirectory, "secrets");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(secrets));
        Assert.All(Directory.GetFiles(secrets), f => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead, File.GetUnixFileMode(f)));
        Assert.DoesNotContain(await File.ReadAllTextAsync(Path.Combine(secrets, "webhook_secret")), init.Output, StringComparison.Ordinal);
        var credentials = Path.Combine(secrets, "aws_credentials");
        File.SetUnixFileMode(credentials, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var keys = (await File.ReadAllTextAsync(credentials)).Split('\n').Select(line =>
            line.StartsWith("aws_access_key_id", StringComparison.Ordinal) ? $"aws_access_key_id = {SesEmulator.AccessKeyId}"
            : line.StartsWith("aws_secret_access_key", StringComparison.Ordinal) ? $"aws_secret_access_key = {SesEmulator.SecretAccessKey}" : line);
        await File.WriteAllTextAsync(credentials, string.Join('\n', keys));
        File.SetUnixFileMode(credentials, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={Domain}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(Domain);
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        _certificate = certificate.GetCertHashString(HashAlgorithmName.SHA256);
        var place = await ComposeAsync(
            [
                "run", "-T", "--rm", "--no-deps",
                "-e", "CHAIN=" + certificate.ExportCertificatePem(), "-e", "KEY=" + key.ExportPkcs8PrivateKeyPem(),
                "--entrypoint", "/bin/sh", "certbot", "-c",
                $"mkdir -p /etc/letsencrypt/live/{Domain} && printf '%s\\n' \"$CHAIN\" >/etc/letsencrypt/live/{Domain}/fullchain.pem && printf '%s\\n' \"$KEY\" >/etc/letsencrypt/live/{Domain}/privkey.pem",
            ],
            TimeSpan.FromMinutes(2));
        Assert.True(place.ExitCode == 0, place.Describe("docker-compose run certbot (placing the certificate)"));
    }

    /// <summary>The repository's image, built on the engine under test, loaded into engine S unless it has it already.</summary>
    private static async Task<string> MoveUpdaterImageAsync()
    {
        var image = await UpdaterImage.BuildAsync();
        var here = await Cli.RunAsync(UpdaterImage.Docker(), ["image", "inspect", "-f", "{{.Id}}", image], environment: UpdaterImage.DockerEnvironment);
        var there = await Cli.RunAsync(UpdaterImage.Docker(), ["image", "inspect", "-f", "{{.Id}}", image], environment: DockerEnvironment);
        if (there.ExitCode != 0 || there.Stdout.Trim() != here.Stdout.Trim())
        {
            var move = await Cli.RunAsync(
                "/bin/sh",
                ["-c", "docker -H \"$FROM\" save \"$IMAGE\" | docker -H \"$TO\" load -q"],
                environment: new Dictionary<string, string?> { ["FROM"] = TestEnvironment.DockerHost, ["TO"] = StackNamespace.DockerHost, ["IMAGE"] = image },
                timeout: TimeSpan.FromMinutes(3));
            Assert.True(move.ExitCode == 0, move.Describe($"docker save | load of {image} into engine S"));
        }

        return image;
    }

    private async Task UpAsync()
    {
        var up = await ComposeAsync(["up", "-d", "--no-build"], TimeSpan.FromMinutes(5));
        if (up.ExitCode != 0)
        {
            var logs = await ComposeAsync(["logs", "--no-color", "--tail", "30"], TimeSpan.FromMinutes(1));
            Assert.Fail(up.Describe("docker-compose up -d") + "\n" + logs.Output);
        }
    }

    /// <summary>The SES emulator as a container on the stack's network, under the name the .env gives the endpoint.</summary>
    private async Task StartSesEmulatorAsync()
    {
        var run = await Cli.RunAsync(
            UpdaterImage.Docker(),
            [
                "run", "-d", "--name", SesContainer, "--network", $"{Project}_default", "--network-alias", "ses",
                "-p", $"127.0.0.1:{SesPort}:{SesPort}", $"{TestEnvironment.ImagePrefix}/ses:2",
            ],
            environment: DockerEnvironment);
        Assert.True(run.ExitCode == 0, run.Describe("docker run of the SES emulator"));
        using var http = StackNamespace.Http(new IPEndPoint(IPAddress.Loopback, int.Parse(SesPort, CultureInfo.InvariantCulture)));
        for (var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30); ; await Task.Delay(300))
        {
            try
            {
                (await http.GetAsync($"http://ses:{SesPort}/store")).EnsureSuccessStatusCode();
                return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && DateTime.UtcNow < deadline)
            {
                // Node is still starting.
            }
        }
    }

    internal static SesEmulator Ses() =>
        new($"http://ses:{SesPort}", StackNamespace.Http(new IPEndPoint(IPAddress.Loopback, int.Parse(SesPort, CultureInfo.InvariantCulture))));

    /// <summary>A program that runs Debian's Chromium inside the namespace, for Playwright to launch.</summary>
    public string ChromiumInNamespace()
    {
        var path = Path.Combine(_root, "chromium-in-namespace");
        File.WriteAllText(path, $"#!/bin/sh\nexec nsenter --net='{StackNamespace.Path}' '{Chromium.ExecutablePath}' \"$@\"\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    /// <summary>A client of <paramref name="target"/> inside the namespace that trusts the stack's certificate only.</summary>
    public HttpClient Client(IPEndPoint target, IPAddress from = null) => StackNamespace.Http(target, from, _certificate);

    private async Task<Dictionary<string, string>> WaitAllHealthyAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var states = "";
        while (DateTime.UtcNow < deadline)
        {
            var listed = await Docker.Containers.ListContainersAsync(new ContainersListParameters
            {
                All = true,
                Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"com.docker.compose.project={Project}"] = true } },
            });
            var byService = new Dictionary<string, string>();
            var ready = true;
            var report = new StringBuilder();
            foreach (var container in listed)
            {
                var inspect = await Docker.Containers.InspectContainerAsync(container.ID);
                var service = inspect.Config.Labels["com.docker.compose.service"];
                byService[service] = container.ID;
                var health = inspect.State.Health?.Status;
                report.Append(service).Append('=').Append(inspect.State.Status).Append('/').Append(health ?? "-").Append(' ');
                ready &= inspect.State.Running && (health is null || health == "healthy");
            }

            states = report.ToString();
            if (ready && byService.Count == 6)
            {
                return byService;
            }

            await Task.Delay(1000);
        }

        var logs = await ComposeAsync(["logs", "--no-color", "--tail", "30"], TimeSpan.FromMinutes(1));
        Assert.Fail($"the stack did not turn healthy within {timeout}: {states}\n{logs.Output}");
        return null;
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var dir in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        }

        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            File.Copy(file, target, overwrite: true);
            File.SetUnixFileMode(target, File.GetUnixFileMode(file));
        }
    }
}
