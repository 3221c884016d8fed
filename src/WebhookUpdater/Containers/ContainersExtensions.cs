using Microsoft.Extensions.Options;
using Polly.Registry;
using WebhookUpdater.Configuration;

namespace WebhookUpdater.Containers;

public static class ContainersExtensions
{
    public static IServiceCollection AddContainers(this IServiceCollection services)
    {
        if (!services.FirstRegistrationOf(nameof(Containers)))
        {
            return services;
        }

        services.AddTime();
        services.AddOptions<DockerOptions>().BindConfiguration(DockerOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<DockerOptions>, DockerOptionsValidator>();
        services.AddSingleton<DockerApi>();
        services.AddDockerResilience();
        services.AddSingleton<IContainerLookup>(provider => Lookup(provider, DockerResilience.Patient));
        services.AddKeyedSingleton<IContainerLookup>(DockerResilience.Quick, (provider, _) => Lookup(provider, DockerResilience.Quick));
        services.AddRetiredSetting("Docker:IndexContainers", "every webhook event asks the engine for its containers");
        services.AddSingleton<IContainerActions, DockerContainerActions>();
        services.AddSingleton<IImageActions, DockerImageActions>();
        return services;
    }

    private static DockerContainerLookup Lookup(IServiceProvider provider, string pipeline) =>
        new(provider.GetRequiredService<DockerApi>(), provider.GetRequiredService<ResiliencePipelineProvider<string>>().Docker(pipeline));
}
