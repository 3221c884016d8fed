namespace WebhookUpdater.IntegrationTests.Support;

/// <summary>
/// Where the real servers are. scripts/test.sh starts them and exports these variables; run
/// by hand, the defaults match what scripts/testenv/up.sh starts.
/// </summary>
internal static class TestEnvironment
{
    public static bool IsCi => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI"));

    public static string DockerHost =>
        Environment.GetEnvironmentVariable("DOCKER_HOST") is { Length: > 0 } host ? host : "unix:///var/run/docker.sock";

    public static string ImagePrefix =>
        Environment.GetEnvironmentVariable("WU_TEST_IMAGE_PREFIX") is { Length: > 0 } prefix ? prefix : "localhost:5000/wu-test";

    public static string Engine => Environment.GetEnvironmentVariable("WU_TEST_ENGINE") ?? "default";

    public static string AppImage(string tag) => $"{ImagePrefix}/app:{tag}";

    /// <summary>
    /// A missing server fails the test under CI (a green run must mean it really ran), and
    /// skips it on a developer's machine with the reason.
    /// </summary>
    public static void Unavailable(string what, Exception? error = null)
    {
        var message = $"{what} is not available ({error?.GetType().Name}: {error?.Message}). Run scripts/test.sh, which starts it.";
        if (IsCi)
        {
            Assert.Fail(message);
        }

        Assert.Skip(message);
    }
}
