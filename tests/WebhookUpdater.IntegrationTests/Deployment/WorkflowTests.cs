using YamlDotNet.RepresentationModel;

namespace WebhookUpdater.IntegrationTests.Deployment;

/// <summary>.gitea/workflows/ci.yml: the quality gate runs the README's test command, then builds the image.</summary>
public sealed class WorkflowTests
{
    private static IEnumerable<YamlMappingNode> Steps(YamlMappingNode job) =>
        ((YamlSequenceNode)job.Children[new YamlScalarNode("steps")]).Children.Cast<YamlMappingNode>();

    [Fact]
    public void The_workflow_runs_on_every_push_and_pull_request()
    {
        var workflow = DeploymentFiles.LoadYamlFile(DeploymentFiles.Workflow);

        // YAML 1.1 readers take a bare `on` for true; GitHub and Gitea Actions read the key "on".
        var on = workflow.Map("on");
        Assert.True(on.Has("push"));
        Assert.True(on.Has("pull_request"));
    }

    [Fact]
    public void The_test_job_sets_up_dotnet_from_global_json_and_runs_the_readme_test_command()
    {
        var test = DeploymentFiles.LoadYamlFile(DeploymentFiles.Workflow).Map("jobs").Map("test");

        var steps = Steps(test).ToList();
        Assert.StartsWith("actions/checkout@", steps[0].Scalar("uses"), StringComparison.Ordinal);
        var dotnet = steps.Single(s => s.Scalar("uses")?.StartsWith("actions/setup-dotnet@", StringComparison.Ordinal) == true);
        Assert.Equal("global.json", dotnet.Map("with").Scalar("global-json-file"));
        var run = steps.Single(s => s.Scalar("run") == "bash scripts/test.sh");
        Assert.Equal("true", run.Map("env").Scalar("CI"));
        Assert.True(steps.IndexOf(dotnet) < steps.IndexOf(run));
        // The same command the README gives and .ci/run executes.
        Assert.Contains("scripts/test.sh", File.ReadAllText(Path.Combine(DeploymentFiles.Root, "README.md")), StringComparison.Ordinal);
        Assert.Contains("exec bash scripts/test.sh", File.ReadAllText(Path.Combine(DeploymentFiles.Root, ".ci", "run")), StringComparison.Ordinal);
        // scripts/test.sh needs root and its own dockerd: not a container job.
        Assert.Equal("wu-host", test.Scalar("runs-on"));
    }

    [Fact]
    public void The_image_is_built_only_after_the_tests_pass()
    {
        var jobs = DeploymentFiles.LoadYamlFile(DeploymentFiles.Workflow).Map("jobs");

        var image = jobs.Map("image");
        Assert.Equal("test", image.Scalar("needs"));
        Assert.Contains(Steps(image), s => s.Scalar("run")?.TrimStart().StartsWith("docker build", StringComparison.Ordinal) == true);
        Assert.DoesNotContain(Steps(jobs.Map("test")), s => s.Scalar("run")?.Contains("docker build", StringComparison.Ordinal) == true);
    }
}
