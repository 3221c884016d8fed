using System.Text.RegularExpressions;
using WebhookUpdater.IntegrationTests.Support;
using YamlDotNet.RepresentationModel;

namespace WebhookUpdater.IntegrationTests.Deployment;

/// <summary>
/// compose/docker-compose.yml as docker-compose 1.29 (the only Compose here, see TESTENV.md)
/// reads it with .env.example: valid, and saying what the stack needs.
/// </summary>
public sealed partial class ComposeFileTests
{
    private static readonly string[] Services = ["postgres", "gitea", "webhook-updater", "nginx", "certbot", "diun"];

    internal static string DockerCompose()
    {
        var path = Cli.Which("docker-compose");
        if (path is null)
        {
            TestEnvironment.Unavailable("docker-compose (Debian package, installed by scripts/testenv/compose.sh)");
        }

        return path!;
    }

    private static async Task<YamlMappingNode> ConfigAsync(string envFile)
    {
        var result = await Cli.RunAsync(DockerCompose(), ["--env-file", envFile, "-f", DeploymentFiles.ComposeFile, "config"], DeploymentFiles.ComposeDirectory);
        Assert.True(result.ExitCode == 0, result.Describe("docker-compose config"));
        Assert.DoesNotContain("WARNING", result.Stderr, StringComparison.Ordinal);
        return DeploymentFiles.LoadYaml(result.Stdout);
    }

    /// <summary>.env.example with its operator's section filled in, as the first start asks.</summary>
    internal static async Task<string> FilledExampleAsync(string domain = "git.poll-streams.com")
    {
        var env = Path.Combine(Directory.CreateTempSubdirectory("wu-compose-").FullName, ".env");
        var yours = new Dictionary<string, string>
        {
            ["DOMAIN"] = domain,
            ["LETSENCRYPT_EMAIL"] = "ops@poll-streams.com",
            ["Email__From"] = "updates@poll-streams.com",
            ["Email__To"] = "ops@poll-streams.com",
            ["AWS_REGION"] = "eu-central-1",
            ["DOCKER_GID"] = "999",
        };
        await File.WriteAllTextAsync(env, DeploymentFiles.OperatorEnv(await File.ReadAllTextAsync(DeploymentFiles.EnvExample), yours, new Dictionary<string, string>()));
        return env;
    }

    private static YamlMappingNode Service(YamlMappingNode config, string name) => config.Map("services").Map(name);

    private static Dictionary<string, string> Labels(YamlMappingNode service) =>
        service.Has("labels")
            ? service.Map("labels").Children.ToDictionary(p => ((YamlScalarNode)p.Key).Value!, p => ((YamlScalarNode)p.Value).Value!)
            : [];

    [Fact]
    public async Task The_compose_file_is_valid_with_the_example_settings_and_has_every_service()
    {
        var config = await ConfigAsync(await FilledExampleAsync());

        Assert.Equal(Services.Order(), config.Map("services").Keys().Order());
        var source = DeploymentFiles.LoadYamlFile(DeploymentFiles.ComposeFile);
        // Keys docker-compose 1.29 rejects or that compose v2 warns about.
        Assert.False(source.Has("version"), "no version: key (obsolete in compose v2)");
        Assert.False(source.Has("name"), "no top-level name: (docker-compose 1.29 rejects it)");
        Assert.False(source.Has("include"), "no include: (docker-compose 1.29 rejects it)");
        foreach (var name in Services)
        {
            Assert.Equal("unless-stopped", Service(config, name).Scalar("restart"));
        }
    }

    [Fact]
    public async Task Labels_tell_diun_what_to_watch_and_the_service_how_to_update_and_check_each_container()
    {
        var config = await ConfigAsync(await FilledExampleAsync());

        foreach (var watched in new[] { "postgres", "gitea", "nginx", "diun", "certbot" })
        {
            Assert.Equal("true", Labels(Service(config, watched)).GetValueOrDefault("diun.enable"));
        }

        Assert.DoesNotContain("diun.enable", Labels(Service(config, "webhook-updater")).Keys);
        Assert.Equal("automatic", Labels(Service(config, "nginx"))["update.policy"]);
        Assert.Equal("manual", Labels(Service(config, "gitea"))["update.policy"]);
        Assert.Equal("manual", Labels(Service(config, "postgres"))["update.policy"]);
        Assert.Equal("notify", Labels(Service(config, "diun"))["update.policy"]);
        Assert.Equal("notify", Labels(Service(config, "certbot"))["update.policy"]);
        Assert.StartsWith("pg_isready", Labels(Service(config, "postgres"))["update.health.cmd"], StringComparison.Ordinal);
        Assert.StartsWith("nginx -t", Labels(Service(config, "nginx"))["update.health.cmd"], StringComparison.Ordinal);
        Assert.Equal("http://gitea:3000/api/healthz", Labels(Service(config, "gitea"))["update.health.url"]);
        Assert.Contains("__DOMAIN:443:nginx:443", Labels(Service(config, "gitea"))["update.health.cmd"], StringComparison.Ordinal); // Gitea as users reach it
        Assert.Equal("postgres", Labels(Service(config, "gitea"))["update.requires"]);
        Assert.Equal("nginx", Labels(Service(config, "nginx"))["webhook-updater.role"]);
        Assert.Equal("certbot", Labels(Service(config, "certbot"))["webhook-updater.role"]);
    }

    [Theory]
    [InlineData("gitea", "minor", "1.23", "1.22.3,1.22-rootless,latest")]
    [InlineData("nginx", "patch", "1.27.4", "1.27,1.27.3-alpine,mainline")]
    public async Task A_tracked_service_has_diun_list_only_tags_as_precise_as_its_own(string service, string track, string newer, string others)
    {
        var config = await ConfigAsync(await FilledExampleAsync());
        var labels = Labels(Service(config, service));
        var image = Service(config, service).Scalar("image")!;
        // Compose writes $$ for a literal $ in its output, or the $ itself, depending on the version.
        var include = new Regex(labels["diun.include_tags"].Replace("$$", "$", StringComparison.Ordinal), RegexOptions.None, TimeSpan.FromSeconds(1));

        Assert.Equal(track, labels["update.track"]);
        Assert.Equal("true", labels["diun.watch_repo"]);
        Assert.Equal("semver", labels["diun.sort_tags"]);
        // Diun applies the regex to the container's own tag too: without a match it would stop watching its digest.
        Assert.Matches(include, image[(image.LastIndexOf(':') + 1)..]);
        Assert.Matches(include, newer);
        Assert.All(others.Split(','), tag => Assert.DoesNotMatch(include, tag));
        Assert.Equal("digest", Labels(Service(config, "postgres"))["update.track"]);
        Assert.DoesNotContain("diun.watch_repo", Labels(Service(config, "postgres")).Keys);
    }

    [Fact]
    public async Task Services_start_in_order_of_health_and_every_long_running_one_has_a_healthcheck()
    {
        var config = await ConfigAsync(await FilledExampleAsync());

        void DependsHealthy(string service, string on) =>
            Assert.Equal("service_healthy", Service(config, service).Map("depends_on").Map(on).Scalar("condition"));
        DependsHealthy("gitea", "postgres");
        DependsHealthy("nginx", "gitea");
        DependsHealthy("nginx", "webhook-updater");
        DependsHealthy("diun", "webhook-updater");
        foreach (var name in new[] { "postgres", "gitea", "webhook-updater", "nginx", "diun" })
        {
            var test = Service(config, name).Map("healthcheck").Children[new YamlScalarNode("test")].Strings();
            Assert.True(test[0] is "CMD" or "CMD-SHELL", $"{name}: healthcheck test starts with {test[0]}");
        }

        Assert.Equal(["dotnet", "/app/WebhookUpdater.dll", "healthcheck"], Service(config, "webhook-updater").Map("healthcheck").Children[new YamlScalarNode("test")].Strings().Skip(1));
    }

    [Fact]
    public async Task The_domain_is_set_once_and_reaches_nginx_gitea_and_the_approval_links()
    {
        var config = await ConfigAsync(await FilledExampleAsync("git.example.org"));

        var gitea = Service(config, "gitea").Map("environment");
        Assert.Equal("git.example.org", gitea.Scalar("GITEA__server__DOMAIN"));
        Assert.Equal("git.example.org", gitea.Scalar("GITEA__server__SSH_DOMAIN"));
        Assert.Equal("https://git.example.org/", gitea.Scalar("GITEA__server__ROOT_URL"));
        Assert.Equal("git.example.org", Service(config, "nginx").Map("environment").Scalar("DOMAIN"));
        Assert.Equal("https://git.example.org/updater", Service(config, "webhook-updater").Map("environment").Scalar("Approvals__BaseUrl"));
        var template = await File.ReadAllTextAsync(DeploymentFiles.NginxTemplate);
        Assert.Contains("server_name ${DOMAIN};", template, StringComparison.Ordinal);
        Assert.Contains("/etc/letsencrypt/live/${DOMAIN}/fullchain.pem", template, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_domain_compose_stops_and_says_to_set_it()
    {
        var env = Path.Combine(Directory.CreateTempSubdirectory("wu-compose-").FullName, ".env");
        await File.WriteAllTextAsync(env, "POSTGRES_USER=gitea\n");

        var result = await Cli.RunAsync(DockerCompose(), ["--env-file", env, "-f", DeploymentFiles.ComposeFile, "config"], DeploymentFiles.ComposeDirectory);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("set DOMAIN in .env", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Secrets_come_from_files_and_no_setting_carries_one()
    {
        var config = await ConfigAsync(await FilledExampleAsync());

        var secrets = config.Map("secrets");
        Assert.Equal(["admin_token", "aws_credentials", "backup_signing_key", "postgres_password", "signing_key", "webhook_secret"], secrets.Keys().Order());
        foreach (var name in secrets.Keys())
        {
            Assert.Equal(Path.Combine(DeploymentFiles.ComposeDirectory, "secrets", name), secrets.Map(name).Scalar("file"));
        }

        Assert.Equal(["admin_token", "aws_credentials", "backup_signing_key", "signing_key", "webhook_secret"], SecretsOf(Service(config, "webhook-updater")).Order());
        Assert.Equal(["webhook_secret"], SecretsOf(Service(config, "diun")));
        Assert.Equal(["postgres_password"], SecretsOf(Service(config, "postgres")));
        Assert.Equal(["postgres_password"], SecretsOf(Service(config, "gitea")));
        foreach (var name in Services)
        {
            var service = Service(config, name);
            if (!service.Has("environment"))
            {
                continue;
            }

            foreach (var key in service.Map("environment").Keys())
            {
                // A secret is passed by file: only *_FILE / __FILE / *_CREDENTIALS_FILE names may mention one.
                Assert.False(SecretName().IsMatch(key) && !key.EndsWith("FILE", StringComparison.Ordinal), $"{name}: {key} looks like a secret passed as a value");
            }
        }
    }

    [Fact]
    public async Task Every_variable_the_compose_file_reads_is_in_the_example_env_and_the_other_way_round()
    {
        var compose = await File.ReadAllTextAsync(DeploymentFiles.ComposeFile);
        var example = await File.ReadAllLinesAsync(DeploymentFiles.EnvExample);

        var code = string.Join('\n', compose.Split('\n').Where(l => !l.TrimStart().StartsWith('#')));
        var used = Variable().Matches(code).Select(m => m.Groups[1].Value).ToHashSet();
        var listed = example.Where(l => !l.StartsWith('#') && l.Contains('=', StringComparison.Ordinal)).Select(l => l[..l.IndexOf('=', StringComparison.Ordinal)]).ToHashSet();

        Assert.Empty(used.Except(listed));
        // LETSENCRYPT_EMAIL is read by the first-start certbot command (docs/deployment.md).
        Assert.Empty(listed.Except(used).Except(["LETSENCRYPT_EMAIL"]));
        Assert.All(example.Where(l => !l.StartsWith('#') && l.Contains('=', StringComparison.Ordinal)),
            line => Assert.DoesNotContain(" #", line, StringComparison.Ordinal)); // .env has no trailing comments
    }

    // `config` prints them in the long form ({source: name}) whatever the file says.
    private static IEnumerable<string> SecretsOf(YamlMappingNode service) =>
        ((YamlSequenceNode)service.Children[new YamlScalarNode("secrets")]).Children
            .Select(c => c is YamlMappingNode m ? m.Scalar("source")! : ((YamlScalarNode)c).Value!);

    [GeneratedRegex(@"\$\{([A-Za-z_][A-Za-z0-9_]*)")]
    private static partial Regex Variable();

    [GeneratedRegex("(?i)(secret|token|password|passwd|signingkey|access_key)")]
    private static partial Regex SecretName();
}
