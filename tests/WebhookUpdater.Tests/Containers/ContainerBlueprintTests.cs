#nullable disable warnings
using System.Text.Json;
using Docker.DotNet.Models;
using WebhookUpdater.Containers;

namespace WebhookUpdater.Tests.Containers;

/// <summary>
/// ContainerBlueprint.From over <c>docker inspect</c> recorded from both test engines (20.10 and
/// 26.1) by scripts/testenv/record-inspect.sh: one container with named, bind and anonymous
/// volumes, aliases on two networks, a restart policy, limits and its own healthcheck.
/// </summary>
public sealed class ContainerBlueprintTests
{
    private const string NewImage = "localhost:5000/wu-test/app:1.1";

    // Docker's wire format: durations in nanoseconds, enums such as the restart policy kebab-case.
    private static readonly JsonSerializerOptions Json = new()
    {
        Converters = { new Nanoseconds(), new System.Text.Json.Serialization.JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    private sealed class Nanoseconds : System.Text.Json.Serialization.JsonConverter<TimeSpan>
    {
        public override TimeSpan Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            TimeSpan.FromTicks(reader.GetInt64() / 100);

        public override void Write(Utf8JsonWriter writer, TimeSpan value, JsonSerializerOptions options) =>
            writer.WriteNumberValue(value.Ticks * 100);
    }

    internal static (ContainerInspectResponse Container, ImageInspectResponse Image) Recorded(string engine)
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "Containers", "InspectData");
        var container = JsonSerializer.Deserialize<List<ContainerInspectResponse>>(File.ReadAllText(Path.Combine(folder, $"container-engine-{engine}.json")), Json)!;
        var image = JsonSerializer.Deserialize<List<ImageInspectResponse>>(File.ReadAllText(Path.Combine(folder, $"image-engine-{engine}.json")), Json)!;
        return (container.Single(), image.Single());
    }

    private static CreateContainerParameters Blueprint(string engine)
    {
        var (container, image) = Recorded(engine);
        return ContainerBlueprint.From(container, image, "wu-blueprint-app", NewImage);
    }

    [Theory]
    [InlineData("a")]
    [InlineData("b")]
    public void The_new_container_has_the_old_ones_name_on_the_new_image(string engine)
    {
        var parameters = Blueprint(engine);

        Assert.Equal("wu-blueprint-app", parameters.Name);
        Assert.Equal(NewImage, parameters.Image);
        // Docker named the old one after its short id: the new one gets its own.
        Assert.Null(parameters.Hostname);
    }

    [Theory]
    [InlineData("a")]
    [InlineData("b")]
    public void Named_bind_and_anonymous_volumes_are_all_mounted_again(string engine)
    {
        var (container, _) = Recorded(engine);
        var anonymous = container.Mounts.Single(m => m.Destination == "/cache").Name;

        var binds = Blueprint(engine).HostConfig.Binds;

        Assert.Contains("wu-blueprint-data:/data", binds);
        Assert.Single(binds, bind => bind.StartsWith("/tmp/wu-blueprint-bind.", StringComparison.Ordinal) && bind.EndsWith(":/config:ro", StringComparison.Ordinal));
        // The anonymous volume by its name: a new container would otherwise get an empty one.
        Assert.Contains($"{anonymous}:/cache", binds);
        Assert.Equal(3, binds.Count);
    }

    [Theory]
    [InlineData("a")]
    [InlineData("b")]
    public void The_primary_network_keeps_its_aliases_and_the_secondary_one_is_connected_after_with_its_own(string engine)
    {
        var (container, _) = Recorded(engine);
        var parameters = Blueprint(engine);

        var primary = Assert.Single(parameters.NetworkingConfig.EndpointsConfig);
        Assert.Equal("wu-blueprint-front", primary.Key);
        Assert.Equal(["git", "gitea.internal"], primary.Value.Aliases.Order());
        Assert.Equal("wu-blueprint-front", parameters.HostConfig.NetworkMode);

        var (network, endpoint) = Assert.Single(ContainerBlueprint.SecondaryNetworks(container));
        Assert.Equal("wu-blueprint-back", network);
        // Engine 20.10 adds the short id as an alias: it names the old container, not the new one.
        Assert.Equal(["db-client"], endpoint.Aliases);
    }

    [Theory]
    [InlineData("a")]
    [InlineData("b")]
    public void Restart_policy_and_resource_limits_stay(string engine)
    {
        var host = Blueprint(engine).HostConfig;

        Assert.Equal(RestartPolicyKind.UnlessStopped, host.RestartPolicy.Name);
        Assert.Equal(128L * 1024 * 1024, host.Memory);
        Assert.Equal(64L * 1024 * 1024, host.MemoryReservation);
        Assert.Equal(500_000_000L, host.NanoCPUs);
        Assert.Equal(200L, host.PidsLimit);
    }

    [Theory]
    [InlineData("a")]
    [InlineData("b")]
    public void The_operators_healthcheck_stays_and_the_images_defaults_are_left_to_the_new_image(string engine)
    {
        var parameters = Blueprint(engine);

        Assert.Equal(["CMD-SHELL", "wget -q -O- http://127.0.0.1:3000/ || exit 1"], parameters.Healthcheck.Test);
        Assert.Equal(TimeSpan.FromSeconds(7), parameters.Healthcheck.Interval);
        Assert.Equal(TimeSpan.FromSeconds(3), parameters.Healthcheck.Timeout);
        Assert.Equal(TimeSpan.FromSeconds(11), parameters.Healthcheck.StartPeriod);
        Assert.Equal(4L, parameters.Healthcheck.Retries);
        // What the operator set stays; what the old image set (PATH, APP_VERSION, its labels) comes from the new one.
        Assert.Equal(["APP_PORT=3000", "OPERATOR_SETTING=kept"], parameters.Env.Order());
        Assert.Equal(["backup.paths", "update.policy"], parameters.Labels.Keys.Order());
        Assert.Null(parameters.Cmd);
        Assert.Null(parameters.Entrypoint);
    }
}
