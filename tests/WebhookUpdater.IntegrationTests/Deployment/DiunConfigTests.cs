using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace WebhookUpdater.IntegrationTests.Deployment;

/// <summary>
/// diun.yml against the settings Diun documents (crazymax.dev/diun: config/, providers/docker,
/// notif/webhook, notif/mail), and the script that puts the webhook secret into it at start.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed partial class DiunConfigTests
{
    // Keys per section, as Diun 4.33 documents them (and its config structs name them).
    private static readonly string[] TopLevel = ["db", "watch", "defaults", "metrics", "notif", "regopts", "providers"];
    private static readonly string[] Watch = ["workers", "schedule", "jitter", "firstCheckNotif", "runOnStartup", "compareDigest", "healthchecks"];
    private static readonly string[] Defaults = ["watchRepo", "notifyOn", "maxTags", "sortTags", "includeTags", "excludeTags", "metadata"];
    private static readonly string[] DockerProvider = ["endpoint", "apiVersion", "tlsCertsPath", "tlsVerify", "watchByDefault", "watchStopped"];
    private static readonly string[] Webhook = ["endpoint", "method", "headers", "timeout", "proxy", "tlsSkipVerify", "tlsCaCertFiles"];
    private static readonly string[] Mail = ["host", "port", "ssl", "insecureSkipVerify", "localName", "username", "usernameFile", "password", "passwordFile", "from", "to", "templateTitle", "templateBody"];

    private static YamlMappingNode Diun() => DeploymentFiles.LoadYamlFile(DeploymentFiles.DiunConfig);

    private static void OnlyDocumented(YamlMappingNode node, string[] documented, string where) =>
        Assert.All(node.Keys(), key => Assert.True(documented.Contains(key), $"{where}.{key} is not a setting Diun documents ({string.Join(", ", documented)})"));

    [Fact]
    public void Diun_yml_uses_only_settings_diun_documents()
    {
        var diun = Diun();

        OnlyDocumented(diun, TopLevel, "(top level)");
        OnlyDocumented(diun.Map("watch"), Watch, "watch");
        OnlyDocumented(diun.Map("defaults"), Defaults, "defaults");
        Assert.Equal(["docker"], diun.Map("providers").Keys());
        OnlyDocumented(diun.Map("providers").Map("docker"), DockerProvider, "providers.docker");
        Assert.Equal(["webhook"], diun.Map("notif").Keys()); // mail is optional, commented out
        OnlyDocumented(diun.Map("notif").Map("webhook"), Webhook, "notif.webhook");
        Assert.All(diun.Map("defaults").Children[new YamlScalarNode("notifyOn")].Strings(), s => Assert.True(s is "new" or "update", s));
        Assert.Equal("/data/diun.db", diun.Map("db").Scalar("path")); // the diun-data volume
    }

    [Fact]
    public void Diun_looks_on_sunday_at_three_and_only_at_labelled_containers()
    {
        var diun = Diun();

        Assert.Equal("0 3 * * 0", diun.Map("watch").Scalar("schedule"));
        Assert.Equal("false", diun.Map("providers").Map("docker").Scalar("watchByDefault"));
        Assert.Equal("false", diun.Map("watch").Scalar("firstCheckNotif"));
        Assert.True(GoDuration(diun.Map("watch").Scalar("jitter")!) >= TimeSpan.Zero);
    }

    [Fact]
    public void The_webhook_posts_to_the_service_in_the_stack_with_json_and_the_bearer_secret()
    {
        var webhook = Diun().Map("notif").Map("webhook");

        Assert.Equal("http://webhook-updater:8080/api/diun", webhook.Scalar("endpoint"));
        Assert.Equal("POST", webhook.Scalar("method"));
        var headers = webhook.Map("headers").Children.ToDictionary(p => ((YamlScalarNode)p.Key).Value!.ToUpperInvariant(), p => ((YamlScalarNode)p.Value).Value);
        Assert.Equal("application/json", headers["CONTENT-TYPE"]);
        Assert.Equal("Bearer @WEBHOOK_SECRET@", headers["AUTHORIZATION"]);
        Assert.InRange(GoDuration(webhook.Scalar("timeout")!), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
        // The endpoint names the compose service and the port the image listens on.
        Assert.Contains("\n  webhook-updater:\n", File.ReadAllText(DeploymentFiles.ComposeFile), StringComparison.Ordinal);
        Assert.Contains("ASPNETCORE_URLS=http://+:8080", File.ReadAllText(Path.Combine(DeploymentFiles.Root, "Dockerfile")), StringComparison.Ordinal);
    }

    [Fact]
    public void The_optional_ses_mail_block_uses_only_settings_diun_documents_once_uncommented()
    {
        var lines = File.ReadAllLines(DeploymentFiles.DiunConfig);
        var start = Array.FindIndex(lines, l => l.TrimEnd() == "  # mail:");
        Assert.True(start > 0, "diun.yml documents the optional mail notifier as a commented block");
        var block = lines.Skip(start).TakeWhile(l => l.StartsWith("  #", StringComparison.Ordinal)).Select(l => "  " + l[4..]);
        var yaml = "notif:\n" + string.Join('\n', block);

        var mail = DeploymentFiles.LoadYaml(yaml).Map("notif").Map("mail");

        OnlyDocumented(mail, Mail, "notif.mail");
        Assert.EndsWith(".amazonaws.com", mail.Scalar("host"), StringComparison.Ordinal);
        Assert.Equal("587", mail.Scalar("port"));
        Assert.Equal("/run/secrets/ses_smtp_password", mail.Scalar("passwordFile"));
    }

    [Fact]
    public async Task The_start_script_puts_the_secret_into_a_private_copy_and_runs_diun_serve_on_it()
    {
        var dir = Directory.CreateTempSubdirectory("wu-diun-").FullName;
        var secret = "0123456789abcdef-_.~+/=ABCDEF";
        await File.WriteAllTextAsync(Path.Combine(dir, "webhook_secret"), secret + "\n");
        var (result, invoked) = await RenderAsync(dir);

        Assert.True(result.ExitCode == 0, result.Describe("render-config.sh"));
        var rendered = Path.Combine(dir, "run", "diun.yml");
        Assert.Equal($"serve --config {rendered}", invoked);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(rendered));
        var webhook = DeploymentFiles.LoadYamlFile(rendered).Map("notif").Map("webhook");
        Assert.Equal($"Bearer {secret}", webhook.Map("headers").Scalar("authorization"));
        Assert.DoesNotContain("@WEBHOOK_SECRET@", await File.ReadAllTextAsync(rendered), StringComparison.Ordinal);
        Assert.DoesNotContain(secret, result.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("has\"quote")]
    [InlineData("has|pipe")]
    [InlineData("has space")]
    [InlineData("")]
    public async Task The_start_script_refuses_a_secret_that_would_break_the_yaml_and_does_not_start_diun(string secret)
    {
        var dir = Directory.CreateTempSubdirectory("wu-diun-").FullName;
        await File.WriteAllTextAsync(Path.Combine(dir, "webhook_secret"), secret);

        var (result, invoked) = await RenderAsync(dir);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("init-secrets.sh", result.Stderr, StringComparison.Ordinal);
        Assert.Null(invoked);
        Assert.False(File.Exists(Path.Combine(dir, "run", "diun.yml")));
    }

    /// <summary>Runs compose/diun/render-config.sh with a stand-in `diun` on PATH that records its arguments.</summary>
    private static async Task<(Cli.Result Result, string? Invoked)> RenderAsync(string dir)
    {
        var bin = Directory.CreateDirectory(Path.Combine(dir, "bin")).FullName;
        var stub = Path.Combine(bin, "diun");
        await File.WriteAllTextAsync(stub, $"#!/bin/sh\necho \"$*\" > '{dir}/invoked'\n");
        File.SetUnixFileMode(stub, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var result = await Cli.RunAsync("/bin/sh", [DeploymentFiles.DiunRenderScript, "serve"], dir, new Dictionary<string, string?>
        {
            ["PATH"] = $"{bin}:/usr/bin:/bin",
            ["DIUN_TEMPLATE"] = DeploymentFiles.DiunConfig,
            ["WEBHOOK_SECRET_FILE"] = Path.Combine(dir, "webhook_secret"),
            ["DIUN_RENDERED"] = Path.Combine(dir, "run", "diun.yml"),
        });
        var invoked = Path.Combine(dir, "invoked");
        return (result, File.Exists(invoked) ? (await File.ReadAllTextAsync(invoked)).Trim() : null);
    }

    /// <summary>A Go duration as Diun reads it (e.g. 10s, 1m30s, 500ms).</summary>
    private static TimeSpan GoDuration(string text)
    {
        var match = Duration().Match(text);
        Assert.True(match.Success && text != "", $"'{text}' is not a Go duration");
        var total = TimeSpan.Zero;
        foreach (Capture part in match.Groups["part"].Captures)
        {
            var unit = part.Value.TrimStart("0123456789.".ToCharArray());
            var number = double.Parse(part.Value[..^unit.Length], System.Globalization.CultureInfo.InvariantCulture);
            total += unit switch
            {
                "h" => TimeSpan.FromHours(number),
                "m" => TimeSpan.FromMinutes(number),
                "s" => TimeSpan.FromSeconds(number),
                "ms" => TimeSpan.FromMilliseconds(number),
                _ => TimeSpan.Zero,
            };
        }

        return total;
    }

    [GeneratedRegex(@"^(?:(?<part>[0-9.]+(?:h|ms|m|s)))+$|^0$")]
    private static partial Regex Duration();
}
