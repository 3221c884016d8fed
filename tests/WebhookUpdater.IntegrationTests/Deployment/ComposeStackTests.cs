#nullable disable warnings
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Docker.DotNet.Models;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Deployment;

/// <summary>
/// The whole stack from compose/docker-compose.yml, brought up by docker-compose 1.29 with the
/// override docker-compose.test.yml (stand-in images, host networking, loopback ports): every
/// service turns healthy, nginx serves the real template, and the service reads the stack's labels
/// through the mounted socket. Engine A only (the updater image and the diun stand-in are built there).
/// </summary>
[Collection(DockerCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ComposeStackTests(DockerFixture docker) : IAsyncLifetime
{
    private const string Domain = "git.poll-streams.com";
    private readonly string _dir = Directory.CreateTempSubdirectory("wu-stack-").FullName;
    private readonly Dictionary<string, int> _ports = new()
    {
        ["PG"] = DockerFixture.FreePort(),
        ["GITEA"] = DockerFixture.FreePort(),
        ["UPDATER"] = DockerFixture.FreePort(),
        ["HTTP"] = DockerFixture.FreePort(),
        ["HTTPS"] = DockerFixture.FreePort(),
    };

    private Dictionary<string, string> _environment = [];

    private string Project => $"wu-it-{docker.RunId}-stack";

    public ValueTask InitializeAsync()
    {
        docker.Require();
        ComposeFileTests.DockerCompose();
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        var down = await ComposeAsync(["down", "-v", "--remove-orphans", "-t", "5"], TimeSpan.FromMinutes(3));
        Assert.True(down.ExitCode == 0, down.Describe("docker-compose down -v"));
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Every_service_of_the_stack_turns_healthy_and_nginx_fronts_gitea_and_the_updater()
    {
        var environment = await PrepareAsync();

        await UpAsync(environment);

        var containers = await WaitAllHealthyAsync(TimeSpan.FromMinutes(3));
        Assert.Equal(["certbot", "diun", "gitea", "nginx", "postgres", "webhook-updater"], containers.Keys.Order());

        using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true, AllowAutoRedirect = false };
        using var http = new HttpClient(handler);
        try
        {
            await CheckProxyAsync(http, containers);
        }
        catch (HttpRequestException e)
        {
            var logs = await ComposeAsync(["logs", "--no-color", "--tail", "40", "nginx"], TimeSpan.FromMinutes(1));
            Assert.Fail($"{e}\n{logs.Output}");
        }
    }

    private async Task CheckProxyAsync(HttpClient http, Dictionary<string, string> containers)
    {
        // HTTP: everything but the ACME webroot goes to HTTPS on the one domain.
        var redirect = await SendAsync(http, $"http://127.0.0.1:{_ports["HTTP"]}/user/login?next=x");
        Assert.Equal(HttpStatusCode.MovedPermanently, redirect.StatusCode);
        Assert.Equal($"https://{Domain}/user/login?next=x", redirect.Headers.Location!.ToString());
        // The certbot container and nginx share the webroot volume.
        await ExecAsync(containers["certbot"], "mkdir -p /var/www/certbot/.well-known/acme-challenge && printf token-123 > /var/www/certbot/.well-known/acme-challenge/abc");
        var challenge = await SendAsync(http, $"http://127.0.0.1:{_ports["HTTP"]}/.well-known/acme-challenge/abc");
        Assert.Equal("token-123", await challenge.Content.ReadAsStringAsync());
        // HTTPS: gitea at /, the updater under /updater/ (prefix removed), its webhook not exposed.
        var gitea = await SendAsync(http, $"https://127.0.0.1:{_ports["HTTPS"]}/");
        Assert.Contains("wu-test app", await gitea.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var updater = await SendAsync(http, $"https://127.0.0.1:{_ports["HTTPS"]}/updater/healthz");
        Assert.Equal(HttpStatusCode.OK, updater.StatusCode);
        Assert.Contains("Healthy", await updater.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(http, $"https://127.0.0.1:{_ports["HTTPS"]}/updater/api/diun", HttpMethod.Post)).StatusCode);
        // Diun runs on a copy of diun.yml that carries the secret from the secret file.
        var rendered = await ExecAsync(containers["diun"], "cat /run/diun/diun.yml");
        Assert.Contains($"authorization: \"Bearer {await File.ReadAllTextAsync(Path.Combine(_dir, "secrets", "webhook_secret"))}\"", rendered, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_service_in_the_stack_reads_the_labels_compose_set_and_holds_a_gitea_update_for_approval()
    {
        var environment = await PrepareAsync();
        await UpAsync(environment);
        var containers = await WaitAllHealthyAsync(TimeSpan.FromMinutes(3));
        var giteaName = (await docker.Client.Containers.InspectContainerAsync(containers["gitea"])).Name.TrimStart('/');
        var secret = await File.ReadAllTextAsync(Path.Combine(_dir, "secrets", "webhook_secret"));
        var newer = await docker.RegistryDigestAsync(TestEnvironment.AppImage("1.1"));

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_ports["UPDATER"]}") };
        using var post = new HttpRequestMessage(HttpMethod.Post, "/api/diun") { Content = new StringContent(ServiceHost.DiunPayload(TestEnvironment.AppImage("1.0"), newer, giteaName)) };
        post.Headers.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        var answer = await http.SendAsync(post);

        Assert.Equal(HttpStatusCode.Accepted, answer.StatusCode);
        var job = (await answer.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("jobs")[0];
        Assert.Equal(giteaName, job.GetProperty("container").GetString());
        Assert.Equal("manual", job.GetProperty("policy").GetString());
        Assert.Equal("awaiting_approval", job.GetProperty("decision").GetString());
    }

    private async Task UpAsync(Dictionary<string, string> environment)
    {
        _environment = environment;
        var up = await ComposeAsync(["up", "-d", "--no-build"], TimeSpan.FromMinutes(5));
        if (up.ExitCode != 0)
        {
            var ids = await Cli.RunAsync(UpdaterImage.Docker(), ["ps", "-aq", "--filter", $"label=com.docker.compose.project={Project}"], environment: UpdaterImage.DockerEnvironment);
            var health = await Cli.RunAsync(UpdaterImage.Docker(), ["inspect", "-f", "{{.Name}} {{.State.Status}} {{json .State.Health}}", .. ids.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)], environment: UpdaterImage.DockerEnvironment);
            Assert.Fail(up.Describe("docker-compose up -d") + "\n" + health.Output);
        }
    }

    /// <summary>Secrets, certificate, nginx config, the diun stand-in image, the updater image; returns the compose environment.</summary>
    private async Task<Dictionary<string, string>> PrepareAsync()
    {
        var updaterImage = await UpdaterImage.BuildAsync();
        var diunImage = await BuildDiunStandInAsync();
        var secrets = Path.Combine(_dir, "secrets");
        var init = await Cli.RunAsync("/bin/sh", [Path.Combine(DeploymentFiles.ComposeDirectory, "init-secrets.sh"), secrets]);
        Assert.True(init.ExitCode == 0, init.Describe("init-secrets.sh"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(secrets));
        Assert.All(Directory.GetFiles(secrets), f => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead, File.GetUnixFileMode(f)));
        Assert.DoesNotContain(await File.ReadAllTextAsync(Path.Combine(secrets, "webhook_secret")), init.Output, StringComparison.Ordinal);

        var live = Directory.CreateDirectory(Path.Combine(_dir, "letsencrypt", "live", Domain)).FullName;
        using (var key = RSA.Create(2048))
        {
            var request = new CertificateRequest($"CN={Domain}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
            await File.WriteAllTextAsync(Path.Combine(live, "fullchain.pem"), certificate.ExportCertificatePem());
            await File.WriteAllTextAsync(Path.Combine(live, "privkey.pem"), key.ExportPkcs8PrivateKeyPem());
        }

        var conf = (await File.ReadAllTextAsync(DeploymentFiles.NginxTemplate))
            .Replace("${DOMAIN}", Domain, StringComparison.Ordinal)
            .Replace("${GITEA_UPSTREAM}", $"127.0.0.1:{_ports["GITEA"]}", StringComparison.Ordinal)
            .Replace("${UPDATER_UPSTREAM}", $"127.0.0.1:{_ports["UPDATER"]}", StringComparison.Ordinal)
            .Replace("listen 80 default_server;", $"listen 127.0.0.1:{_ports["HTTP"]} default_server;", StringComparison.Ordinal)
            .Replace("listen 443 ssl http2 default_server;", $"listen 127.0.0.1:{_ports["HTTPS"]} ssl http2 default_server;", StringComparison.Ordinal);
        conf = string.Join('\n', conf.Split('\n').Where(l => !l.TrimStart().StartsWith("listen [::]", StringComparison.Ordinal)));
        Assert.DoesNotContain("${", conf, StringComparison.Ordinal);
        await File.WriteAllTextAsync(Path.Combine(_dir, "nginx.conf"), conf);

        // The operator's .env: the example, with the ports this machine has free.
        // Email goes to the .eml outbox here: the example's SES sender would call AWS.
        var yours = new Dictionary<string, string>
        {
            ["DOMAIN"] = Domain,
            ["LETSENCRYPT_EMAIL"] = "ops@example.test",
            ["Email__From"] = "updates@example.test",
            ["Email__To"] = "ops@example.test",
            ["AWS_REGION"] = "eu-central-1",
            ["DOCKER_GID"] = await UpdaterImage.SocketGroupAsync(),
        };
        var env = DeploymentFiles.OperatorEnv(await File.ReadAllTextAsync(DeploymentFiles.EnvExample), yours, new Dictionary<string, string>())
            .Replace("Email__Sender=Ses", "Email__Sender=Outbox", StringComparison.Ordinal)
            + $"\nHTTP_PORT={_ports["HTTP"]}\nHTTPS_PORT={_ports["HTTPS"]}\nGITEA_SSH_PORT={DockerFixture.FreePort()}\nDOCKER_SOCKET={UpdaterImage.SocketPath}\n";
        await File.WriteAllTextAsync(Path.Combine(_dir, ".env"), env);
        return new Dictionary<string, string>
        {
            ["WU_TEST_IMAGE_PREFIX"] = TestEnvironment.ImagePrefix,
            ["WU_TEST_UPDATER_IMAGE"] = updaterImage,
            ["WU_TEST_DIUN_IMAGE"] = diunImage,
            ["WU_TEST_PG_PORT"] = _ports["PG"].ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["WU_TEST_GITEA_PORT"] = _ports["GITEA"].ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["WU_TEST_UPDATER_PORT"] = _ports["UPDATER"].ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["WU_TEST_NGINX_CONF"] = Path.Combine(_dir, "nginx.conf"),
            ["WU_TEST_CERTS"] = Path.Combine(_dir, "letsencrypt"),
            ["WU_TEST_SECRETS"] = secrets,
        };
    }

    private static async Task<string> BuildDiunStandInAsync()
    {
        const string tag = "wu-it/diun-standin:1";
        var context = Path.Combine(DeploymentFiles.Root, "scripts", "testenv", "images", "stack-diun");
        var result = await Cli.RunAsync(UpdaterImage.Docker(), ["build", "--network", "none", "--build-arg", $"BASE={TestEnvironment.AppImage("1.0")}", "--label", "wu.test=true", "-t", tag, context], environment: UpdaterImage.DockerEnvironment);
        Assert.True(result.ExitCode == 0, result.Describe("docker build of the diun stand-in"));
        return tag;
    }

    private Task<Cli.Result> ComposeAsync(IEnumerable<string> args, TimeSpan timeout)
    {
        var env = new Dictionary<string, string?>(UpdaterImage.DockerEnvironment);
        foreach (var (key, value) in _environment)
        {
            env[key] = value;
        }

        // down needs the same variables to read the files; dummies suffice after a failed prepare.
        foreach (var key in new[] { "WU_TEST_IMAGE_PREFIX", "WU_TEST_UPDATER_IMAGE", "WU_TEST_DIUN_IMAGE", "WU_TEST_PG_PORT", "WU_TEST_GITEA_PORT", "WU_TEST_UPDATER_PORT", "WU_TEST_NGINX_CONF", "WU_TEST_CERTS", "WU_TEST_SECRETS" })
        {
            env.TryAdd(key, key.EndsWith("PORT", StringComparison.Ordinal) ? "1" : Path.Combine(_dir, "unset"));
        }

        var envFile = Path.Combine(_dir, ".env");
        if (!File.Exists(envFile))
        {
            File.Copy(DeploymentFiles.EnvExample, envFile);
        }

        return Cli.RunAsync(
            ComposeFileTests.DockerCompose(),
            ["-p", Project, "--project-directory", DeploymentFiles.ComposeDirectory, "--env-file", envFile, "-f", WithoutPublishedPorts(), "-f", DeploymentFiles.TestOverride, .. args],
            DeploymentFiles.ComposeDirectory,
            env,
            timeout);
    }

    /// <summary>
    /// compose/docker-compose.yml without its two `ports:` lists (gitea's SSH, nginx's 80/443):
    /// Docker refuses published ports on the host network, and a compose v1 override cannot remove
    /// a list. Everything else is the file as it is; relative paths still resolve against compose/
    /// (--project-directory).
    /// </summary>
    private string WithoutPublishedPorts()
    {
        var kept = new List<string>();
        var removed = 0;
        var skipping = false;
        foreach (var line in File.ReadAllLines(DeploymentFiles.ComposeFile))
        {
            if (line == "    ports:")
            {
                skipping = true;
                removed++;
                continue;
            }

            if (skipping && line.StartsWith("      - ", StringComparison.Ordinal))
            {
                continue;
            }

            skipping = false;
            kept.Add(line);
        }

        Assert.Equal(2, removed);
        var path = Path.Combine(_dir, "docker-compose.no-ports.yml");
        File.WriteAllLines(path, kept);
        return path;
    }

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

            states = listed.Count == 0
                ? $"no container of project {Project} is left (another test process on this engine removes every wu.test=true container when it starts)"
                : report.ToString();
            if (ready && byService.Count == 6)
            {
                return byService;
            }

            await Task.Delay(500);
        }

        var logs = await ComposeAsync(["logs", "--no-color", "--tail", "30"], TimeSpan.FromMinutes(1));
        Assert.Fail($"the stack did not turn healthy within {timeout}: {states}\n{logs.Output}");
        return null;
    }

    private async Task<string> ExecAsync(string id, string script)
    {
        var exec = await docker.Client.Exec.CreateContainerExecAsync(id, new ContainerExecCreateParameters { Cmd = ["sh", "-c", script], AttachStdout = true, AttachStderr = true });
        using var stream = await docker.Client.Exec.StartContainerExecAsync(exec.ID, new ContainerExecStartParameters());
        var (stdout, stderr) = await stream.ReadOutputToEndAsync(CancellationToken.None);
        return stdout + stderr;
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient http, string url, HttpMethod method = null)
    {
        using var request = new HttpRequestMessage(method ?? HttpMethod.Get, url);
        // nginx answers for the one domain; the request goes to 127.0.0.1 only.
        request.Headers.Host = Domain;
        return await http.SendAsync(request);
    }
}
