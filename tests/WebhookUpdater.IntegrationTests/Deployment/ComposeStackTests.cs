#nullable disable warnings
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Docker.DotNet.Models;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Deployment;

/// <summary>
/// The stack as an operator gets it: a copy of compose/ (and diun.yml) started by docker-compose 1.29
/// from compose/docker-compose.yml alone, with a .env made from .env.example by filling in the
/// section the file marks as the operator's, choosing the published address and ports, naming the
/// SES endpoint, and swapping the image names for the local stand-ins (scripts/testenv/up.sh).
/// No override file, no setting of the service changed. The services talk over the compose
/// network, as shipped; the test reaches nginx and the SES emulator only on 127.0.0.1 ports.
/// </summary>
[Collection(DockerCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed partial class ComposeStackTests(DockerFixture docker) : IAsyncLifetime
{
    private const string Domain = "git.example.test";
    private const string Operator = "ops@example.test";
    private readonly string _root = Directory.CreateTempSubdirectory("wu-stack-").FullName;
    private readonly int _httpPort = DockerFixture.FreePort();
    private readonly int _httpsPort = DockerFixture.FreePort();
    private readonly int _sesPort = DockerFixture.FreePort();

    private string Project => $"wu-it-{docker.RunId}-stack";

    private string ComposeDirectory => Path.Combine(_root, "compose");

    private string SesContainer => $"{Project}-ses";

    public ValueTask InitializeAsync()
    {
        docker.Require();
        ComposeFileTests.DockerCompose();
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await Cli.RunAsync(UpdaterImage.Docker(), ["rm", "-f", "-v", SesContainer], environment: UpdaterImage.DockerEnvironment);
        if (File.Exists(Path.Combine(ComposeDirectory, "docker-compose.yml")))
        {
            var down = await ComposeAsync(["down", "-v", "--remove-orphans", "-t", "5"], TimeSpan.FromMinutes(3));
            Assert.True(down.ExitCode == 0, down.Describe("docker-compose down -v"));
        }

        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task The_stack_as_shipped_turns_healthy_and_nginx_fronts_gitea_and_the_updater()
    {
        await PrepareAsync();
        await UpAsync();
        var containers = await WaitAllHealthyAsync(TimeSpan.FromMinutes(4));
        Assert.Equal(["certbot", "diun", "gitea", "nginx", "postgres", "webhook-updater"], containers.Keys.Order());

        using var http = Https();
        // HTTP: everything but the ACME webroot goes to HTTPS on the one domain.
        var redirect = await SendAsync(http, $"http://127.0.0.1:{_httpPort}/user/login?next=x");
        Assert.Equal(HttpStatusCode.MovedPermanently, redirect.StatusCode);
        Assert.Equal($"https://{Domain}/user/login?next=x", redirect.Headers.Location!.ToString());
        // The certbot container and nginx share the webroot volume.
        await ExecAsync(containers["certbot"], "mkdir -p /var/www/certbot/.well-known/acme-challenge && printf token-123 > /var/www/certbot/.well-known/acme-challenge/abc");
        var challenge = await SendAsync(http, $"http://127.0.0.1:{_httpPort}/.well-known/acme-challenge/abc");
        Assert.Equal("token-123", await challenge.Content.ReadAsStringAsync());
        // HTTPS: gitea at /, the updater under /updater/, its webhook not exposed.
        var gitea = await SendAsync(http, $"https://127.0.0.1:{_httpsPort}/");
        Assert.Contains("wu-test app", await gitea.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var updater = await SendAsync(http, $"https://127.0.0.1:{_httpsPort}/updater/healthz");
        Assert.Equal(HttpStatusCode.OK, updater.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(http, $"https://127.0.0.1:{_httpsPort}/updater/api/diun", HttpMethod.Post)).StatusCode);
        // Diun runs on a copy of diun.yml that carries the secret from the secret file.
        var rendered = await ExecAsync(containers["diun"], "cat /run/diun/diun.yml");
        Assert.Contains($"authorization: \"Bearer {await File.ReadAllTextAsync(Path.Combine(ComposeDirectory, "secrets", "webhook_secret"))}\"", rendered, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_stack_as_shipped_holds_a_gitea_update_and_emails_the_approval_link_through_the_SES_endpoint_setting()
    {
        await PrepareAsync();
        await UpAsync();
        var containers = await WaitAllHealthyAsync(TimeSpan.FromMinutes(4));
        await StartSesEmulatorAsync();
        var giteaName = (await docker.Client.Containers.InspectContainerAsync(containers["gitea"])).Name.TrimStart('/');
        var giteaImage = (await docker.Client.Containers.InspectContainerAsync(containers["gitea"])).Config.Image;
        var secret = await File.ReadAllTextAsync(Path.Combine(ComposeDirectory, "secrets", "webhook_secret"));
        var newer = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Project)));

        // Diun's request, from inside the compose network (the webhook is not published).
        var answer = await ExecAsync(
            containers["certbot"],
            ["python3", "-c", "import os,urllib.request as u;r=u.urlopen(u.Request('http://webhook-updater:8080/api/diun',data=os.environ['BODY'].encode(),headers={'Authorization':'Bearer '+os.environ['SECRET'],'Content-Type':'application/json'}));print(r.status);print(r.read().decode())"],
            ["BODY=" + ServiceHost.DiunPayload(giteaImage, newer, giteaName), "SECRET=" + secret]);
        Assert.StartsWith("202", answer, StringComparison.Ordinal);
        var job = JsonDocument.Parse(answer[answer.IndexOf('{', StringComparison.Ordinal)..]).RootElement.GetProperty("jobs")[0];
        Assert.Equal(giteaName, job.GetProperty("container").GetString());
        Assert.Equal("awaiting_approval", job.GetProperty("decision").GetString());

        var ses = new SesEmulator($"http://127.0.0.1:{_sesPort}");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        IReadOnlyList<StoredEmail> mail = [];
        while (mail.Count == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(500);
            mail = await ses.MailToAsync(Operator);
        }

        if (mail.Count == 0)
        {
            var logs = await ComposeAsync(["logs", "--no-color", "--tail", "60", "webhook-updater"], TimeSpan.FromMinutes(1));
            Assert.Fail($"no approval email reached the SES endpoint within 60 s\n{logs.Output}");
        }

        var link = ApprovalLink().Match(mail[0].Text ?? "");
        Assert.True(link.Success, mail[0].Text);
        using var http = Https();
        var page = await SendAsync(http, $"https://127.0.0.1:{_httpsPort}{new Uri(link.Value).PathAndQuery}");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains(giteaName, await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [GeneratedRegex($@"https://{Domain}/updater/approvals/[^\s""<>]+")]
    private static partial Regex ApprovalLink();

    /// <summary>
    /// What an operator does before the first start: copy the files, write .env from the example,
    /// run init-secrets.sh, put the AWS keys in, and obtain a certificate into the letsencrypt volume
    /// (here a self-made one, written by a one-off run of the certbot service).
    /// </summary>
    private async Task PrepareAsync()
    {
        var updaterImage = await UpdaterImage.BuildAsync();
        CopyDirectory(DeploymentFiles.ComposeDirectory, ComposeDirectory);
        File.Copy(DeploymentFiles.DiunConfig, Path.Combine(_root, "diun.yml"));
        // A developer's own .env or secrets/ in the checkout are not the operator's.
        File.Delete(Path.Combine(ComposeDirectory, ".env"));
        if (Directory.Exists(Path.Combine(ComposeDirectory, "secrets")))
        {
            Directory.Delete(Path.Combine(ComposeDirectory, "secrets"), recursive: true);
        }

        var yours = new Dictionary<string, string>
        {
            ["DOMAIN"] = Domain,
            ["LETSENCRYPT_EMAIL"] = Operator,
            ["Email__From"] = "updates@example.test",
            ["Email__To"] = Operator,
            ["AWS_REGION"] = "eu-central-1",
            ["DOCKER_GID"] = await UpdaterImage.SocketGroupAsync(),
        };
        var chosen = new Dictionary<string, string>
        {
            ["PUBLISH_ADDRESS"] = "127.0.0.1",
            // Its own range per run: another stack test on this engine holds the default one.
            ["STACK_SUBNET"] = $"10.{Random.Shared.Next(100, 250)}.{Random.Shared.Next(0, 256)}.0/24",
            ["HTTP_PORT"] = _httpPort.ToString(CultureInfo.InvariantCulture),
            ["HTTPS_PORT"] = _httpsPort.ToString(CultureInfo.InvariantCulture),
            ["GITEA_SSH_PORT"] = DockerFixture.FreePort().ToString(CultureInfo.InvariantCulture),
            ["DOCKER_SOCKET"] = UpdaterImage.SocketPath,
            ["Email__Ses__ServiceUrl"] = "http://ses:8005",
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

    private async Task UpAsync()
    {
        var up = await ComposeAsync(["up", "-d", "--no-build"], TimeSpan.FromMinutes(6));
        if (up.ExitCode != 0)
        {
            var ids = await Cli.RunAsync(UpdaterImage.Docker(), ["ps", "-aq", "--filter", $"label=com.docker.compose.project={Project}"], environment: UpdaterImage.DockerEnvironment);
            var health = await Cli.RunAsync(UpdaterImage.Docker(), ["inspect", "-f", "{{.Name}} {{.State.Status}} {{json .State.Health}}", .. ids.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)], environment: UpdaterImage.DockerEnvironment);
            var logs = await ComposeAsync(["logs", "--no-color", "--tail", "30"], TimeSpan.FromMinutes(1));
            Assert.Fail(up.Describe("docker-compose up -d") + "\n" + health.Output + "\n" + logs.Output);
        }
    }

    /// <summary>The SES emulator as a container on the stack's network, under the name the .env gives the endpoint.</summary>
    private async Task StartSesEmulatorAsync()
    {
        var run = await Cli.RunAsync(
            UpdaterImage.Docker(),
            [
                "run", "-d", "--name", SesContainer, "--network", $"{Project}_default", "--network-alias", "ses",
                "-p", $"127.0.0.1:{_sesPort}:8005", "--label", $"{DockerFixture.RunLabel}={docker.RunId}", $"{TestEnvironment.ImagePrefix}/ses:2",
            ],
            environment: UpdaterImage.DockerEnvironment);
        Assert.True(run.ExitCode == 0, run.Describe("docker run of the SES emulator"));
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
        for (var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30); ; await Task.Delay(300))
        {
            try
            {
                (await http.GetAsync($"http://127.0.0.1:{_sesPort}/store")).EnsureSuccessStatusCode();
                return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && DateTime.UtcNow < deadline)
            {
                // Node is still starting.
            }
        }
    }

    private Task<Cli.Result> ComposeAsync(IEnumerable<string> args, TimeSpan timeout) =>
        Cli.RunAsync(ComposeFileTests.DockerCompose(), ["-p", Project, .. args], ComposeDirectory, UpdaterImage.DockerEnvironment, timeout);

    /// <summary>Service name → container id, once every container is healthy (or running, without a healthcheck).</summary>
    private async Task<Dictionary<string, string>> WaitAllHealthyAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var states = "";
        while (DateTime.UtcNow < deadline)
        {
            var listed = await docker.Client.Containers.ListContainersAsync(new ContainersListParameters
            {
                All = true,
                Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"com.docker.compose.project={Project}"] = true } },
            });
            var byService = new Dictionary<string, string>();
            var ready = true;
            var report = new StringBuilder();
            foreach (var container in listed)
            {
                var inspect = await docker.Client.Containers.InspectContainerAsync(container.ID);
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

    private Task<string> ExecAsync(string id, string script) => ExecAsync(id, ["sh", "-c", script], []);

    private async Task<string> ExecAsync(string id, IList<string> command, IList<string> environment)
    {
        var exec = await docker.Client.Exec.CreateContainerExecAsync(id, new ContainerExecCreateParameters { Cmd = command, Env = environment, AttachStdout = true, AttachStderr = true });
        using var stream = await docker.Client.Exec.StartContainerExecAsync(exec.ID, new ContainerExecStartParameters());
        var (stdout, stderr) = await stream.ReadOutputToEndAsync(CancellationToken.None);
        return stdout + stderr;
    }

    private static HttpClient Https() =>
        new(new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true, AllowAutoRedirect = false }, disposeHandler: true);

    private static async Task<HttpResponseMessage> SendAsync(HttpClient http, string url, HttpMethod method = null)
    {
        using var request = new HttpRequestMessage(method ?? HttpMethod.Get, url);
        // nginx answers for the one domain; the request goes to 127.0.0.1 only.
        request.Headers.Host = Domain;
        return await http.SendAsync(request);
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var dir in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        }

        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            File.Copy(file, target, overwrite: true);
            File.SetUnixFileMode(target, File.GetUnixFileMode(file));
        }
    }
}
