using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using WebhookUpdater.Containers;
using WebhookUpdater.Persistence;
using WebhookUpdater.Updates;

namespace WebhookUpdater.Tests.Updates;

/// <summary>The compose project's line after a tag move: found, shown, and rewritten only when allowed.</summary>
public sealed class ComposeEnvTests : IDisposable
{
    private const string From = "gitea/gitea:1.22";
    private const string To = "gitea/gitea:1.23";
    private readonly string _folder = Directory.CreateTempSubdirectory("compose-env-").FullName;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private string EnvFile => Path.Combine(_folder, "project", ".env");

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Theory]
    [InlineData("GITEA_IMAGE=gitea/gitea:1.22\n", "GITEA_IMAGE=gitea/gitea:1.23\n")]
    [InlineData("A=1\nGITEA_IMAGE=\"gitea/gitea:1.22\" # pinned\nB=2\n", "A=1\nGITEA_IMAGE=\"gitea/gitea:1.23\" # pinned\nB=2\n")]
    [InlineData("export GITEA_IMAGE='gitea/gitea:1.22'\r\n", "export GITEA_IMAGE='gitea/gitea:1.23'\r\n")]
    [InlineData("GITEA_IMAGE=old\nGITEA_IMAGE=gitea/gitea:1.22\n", "GITEA_IMAGE=old\nGITEA_IMAGE=gitea/gitea:1.23\n")]
    [InlineData("DOMAIN=git.example.com", "DOMAIN=git.example.com\nGITEA_IMAGE=gitea/gitea:1.23\n")]
    [InlineData("", "GITEA_IMAGE=gitea/gitea:1.23\n")]
    [InlineData("# GITEA_IMAGE=gitea/gitea:1.22\n", "# GITEA_IMAGE=gitea/gitea:1.22\nGITEA_IMAGE=gitea/gitea:1.23\n")]
    public void The_variable_is_set_and_nothing_else_changes(string before, string after) =>
        Assert.Equal(after, ComposeEnv.WithValue(before, "GITEA_IMAGE", To));

    [Fact]
    public void The_variable_is_found_by_the_image_it_holds_only_when_one_does()
    {
        Assert.Equal("GITEA_IMAGE", ComposeEnv.VariableHolding("DOMAIN=x\nGITEA_IMAGE=gitea/gitea:1.22\n", From));
        Assert.Null(ComposeEnv.VariableHolding("A=gitea/gitea:1.22\nB=gitea/gitea:1.22\n", From));
        Assert.Null(ComposeEnv.VariableHolding("A=gitea/gitea:1.21\n", From));
    }

    [Theory]
    [InlineData("gitea/gitea:1.22", "docker.io/gitea/gitea:1.23", "gitea/gitea:1.23")]
    [InlineData("127.0.0.1:5000/app:1.0", "127.0.0.1:5000/app:1.1", "127.0.0.1:5000/app:1.1")]
    [InlineData("gitea/gitea:1.22", "docker.io/gitea/gitea:1.22", null)]
    [InlineData("nginx", "docker.io/library/nginx:latest", null)]
    public void A_tag_move_is_named_in_the_operators_spelling(string current, string image, string? expected)
    {
        var job = new JobView("j", null, "gitea", null, "manual", Decision.Queued, JobState.Running, image, "sha256:" + new string('1', 64),
            current, null, null, null, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, []);
        var to = UpdatePipeline.NewConfiguredImage(new UpdateRun(job));
        Assert.Equal(expected, to == current ? null : to);
    }

    [Fact]
    public async Task Without_a_mounted_file_the_line_comes_from_the_label()
    {
        var drift = await Env(rewrite: false).ReconcileAsync("job1", Container(("update.image.env", "GITEA_IMAGE")), From, To, Cancel);

        Assert.NotNull(drift);
        Assert.Equal("GITEA_IMAGE=gitea/gitea:1.23", drift.Line);
        Assert.False(drift.Rewritten);
        Assert.Contains("set GITEA_IMAGE=gitea/gitea:1.23 in its .env", drift.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_label_or_file_the_compose_image_line_is_named()
    {
        var drift = await Env(rewrite: false).ReconcileAsync("job1", Container(), From, To, Cancel);

        Assert.Equal("image: gitea/gitea:1.23", drift!.Line);
        Assert.Null(drift.Variable);
        Assert.Contains("change the image of service gitea", drift.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_container_outside_compose_or_a_kept_tag_has_no_drift()
    {
        var plain = Container() with { Labels = new Dictionary<string, string>() };
        Assert.Null(await Env(rewrite: true).ReconcileAsync("job1", plain, From, To, Cancel));
        Assert.Null(await Env(rewrite: true).ReconcileAsync("job1", Container(), To, To, Cancel));
    }

    [Fact]
    public async Task With_rewrite_on_the_file_gets_the_new_value_and_the_old_file_is_kept()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(EnvFile)!);
        const string Before = "DOMAIN=git.example.com\nGITEA_IMAGE=gitea/gitea:1.22\nPOSTGRES_IMAGE=postgres:16\n";
        await File.WriteAllTextAsync(EnvFile, Before, Cancel);

        var drift = await Env(rewrite: true).ReconcileAsync("job1", Container(), From, To, Cancel);

        Assert.True(drift!.Rewritten, drift.Note);
        Assert.Equal("GITEA_IMAGE", drift.Variable);
        Assert.Equal("DOMAIN=git.example.com\nGITEA_IMAGE=gitea/gitea:1.23\nPOSTGRES_IMAGE=postgres:16\n", await File.ReadAllTextAsync(EnvFile, Cancel));
        Assert.Equal(Before, await File.ReadAllTextAsync(drift.Copy!, Cancel));
        Assert.StartsWith(Path.Combine(_folder, "data", "compose-env"), drift.Copy, StringComparison.Ordinal);

        // A repeat after a restart writes nothing more and names the same copy.
        var again = await Env(rewrite: true).ReconcileAsync("job1", Container(), From, To, Cancel);
        Assert.True(again!.Rewritten);
        Assert.Equal(drift.Copy, again.Copy);
        Assert.Single(Directory.GetFiles(Path.Combine(_folder, "data", "compose-env")));
    }

    [Fact]
    public async Task Rewrite_on_without_the_file_says_what_to_mount_and_changes_nothing()
    {
        var drift = await Env(rewrite: true).ReconcileAsync("job1", Container(("update.image.env", "GITEA_IMAGE")), From, To, Cancel);

        Assert.False(drift!.Rewritten);
        Assert.Contains("does not exist", drift.Note, StringComparison.Ordinal);
        Assert.False(File.Exists(EnvFile));
    }

    [Fact]
    public async Task Another_projects_container_leaves_the_file_alone()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(EnvFile)!);
        await File.WriteAllTextAsync(EnvFile, "GITEA_IMAGE=gitea/gitea:1.22\n", Cancel);

        var drift = await Env(rewrite: true, project: "other").ReconcileAsync("job1", Container(("update.image.env", "GITEA_IMAGE")), From, To, Cancel);

        Assert.False(drift!.Rewritten);
        Assert.Equal("GITEA_IMAGE=gitea/gitea:1.22\n", await File.ReadAllTextAsync(EnvFile, Cancel));
    }

    private ComposeEnv Env(bool rewrite, string? project = null) => new(
        Options.Create(new ComposeOptions { EnvFile = EnvFile, RewriteEnv = rewrite, Project = project }),
        Options.Create(new StoreOptions { DataDirectory = Path.Combine(_folder, "data") }),
        new FakeTimeProvider(DateTimeOffset.Parse("2026-12-07T01:00:00Z", System.Globalization.CultureInfo.InvariantCulture)));

    private static ContainerInfo Container(params (string Key, string Value)[] labels)
    {
        var all = new Dictionary<string, string> { ["com.docker.compose.project"] = "compose", ["com.docker.compose.service"] = "gitea" };
        foreach (var (key, value) in labels)
        {
            all[key] = value;
        }

        return new ContainerInfo("id", "gitea", From, "sha256:" + new string('a', 64), "running", true, false, 0, 0, null, all, [], []);
    }
}
