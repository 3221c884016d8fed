using Polly.Registry;
using WebhookUpdater.Configuration;
using WebhookUpdater.Containers;

namespace WebhookUpdater.Swarm;

public static class SwarmExtensions
{
    /// <summary>The door to Swarm's services; made with the first event or service job, like the container one.</summary>
    public static IServiceCollection AddSwarm(this IServiceCollection services)
    {
        if (!services.FirstRegistrationOf(nameof(Swarm)))
        {
            return services;
        }

        services.AddContainers();
        services.AddOptions<SwarmOptions>().BindConfiguration(SwarmOptions.Section)
            .Validate(o => o.PollInterval > TimeSpan.Zero && o.UpdateTimeout > TimeSpan.Zero,
                "Swarm:PollInterval and Swarm:UpdateTimeout must be positive (defaults 00:00:01 and 00:30:00)")
            .ValidateOnStart();
        services.AddSingleton<ISwarmServices>(provider => Door(provider, DockerResilience.Patient));
        services.AddKeyedSingleton<ISwarmServices>(DockerResilience.Quick, (provider, _) => Door(provider, DockerResilience.Quick));
        services.AddSingleton<ISwarmJobs, DockerSwarmJobs>();
        return services;
    }

    private static DockerSwarmServices Door(IServiceProvider provider, string pipeline) =>
        new(provider.GetRequiredService<DockerApi>(), provider.GetRequiredService<ResiliencePipelineProvider<string>>().Docker(pipeline));
}
