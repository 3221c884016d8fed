using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Deployment;

/// <summary>
/// The repository's Dockerfile, built once per test run on the engine under test with the local
/// stand-ins for the official .NET images (scripts/testenv/dotnet-images.sh), passed as build
/// arguments; --network host so the restore reaches NuGet.
/// </summary>
internal static class UpdaterImage
{
    public const string SdkImage = "local/dotnet-sdk:10";
    public const string RuntimeImage = "local/dotnet-aspnet:10";

    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static string? _built;

    // One tag per checkout: a rebuild replaces it (nothing piles up), and another checkout's
    // tests on the same engine never run this one's image.
    public static string Tag { get; } =
        $"wu-it/webhook-updater:{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(DeploymentFiles.Root)))[..12]}";

    public static Dictionary<string, string?> DockerEnvironment => new()
    {
        ["DOCKER_HOST"] = TestEnvironment.DockerHost,
        // No buildx plugin here: the classic builder, quietly.
        ["DOCKER_BUILDKIT"] = "0",
        ["DOCKER_CLI_HINTS"] = "false",
    };

    public static string Docker()
    {
        var path = Cli.Which("docker");
        if (path is null)
        {
            TestEnvironment.Unavailable("the docker CLI");
        }

        return path!;
    }

    /// <summary>The group id of the engine's socket, which the image's user must join.</summary>
    public static async Task<string> SocketGroupAsync()
    {
        var result = await Cli.RunAsync("stat", ["-c", "%g", SocketPath]);
        Assert.True(result.ExitCode == 0, result.Describe($"stat {SocketPath}"));
        return result.Stdout.Trim();
    }

    public static string SocketPath => new Uri(TestEnvironment.DockerHost).LocalPath;

    public static async Task<string> BuildAsync()
    {
        await Gate.WaitAsync();
        try
        {
            if (_built is not null)
            {
                return _built;
            }

            foreach (var image in new[] { SdkImage, RuntimeImage })
            {
                var inspect = await Cli.RunAsync(Docker(), ["image", "inspect", "-f", "{{.Id}}", image], environment: DockerEnvironment);
                if (inspect.ExitCode != 0)
                {
                    TestEnvironment.Unavailable($"The base image {image} (built by scripts/testenv/dotnet-images.sh)", new InvalidOperationException(inspect.Stderr.Trim()));
                }
            }

            var result = await Cli.RunAsync(
                Docker(),
                [
                    "build", "--network", "host",
                    "--build-arg", $"SDK_IMAGE={SdkImage}",
                    "--build-arg", $"RUNTIME_IMAGE={RuntimeImage}",
                    "--build-arg", $"DOCKER_GID={await SocketGroupAsync()}",
                    "--label", "wu.test=true",
                    "-t", Tag, DeploymentFiles.Root,
                ],
                environment: DockerEnvironment,
                timeout: TimeSpan.FromMinutes(10));
            Assert.True(result.ExitCode == 0, result.Describe("docker build of the repository's Dockerfile"));
            _built = Tag;
            return Tag;
        }
        finally
        {
            Gate.Release();
        }
    }
}
