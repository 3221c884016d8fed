using Microsoft.Extensions.Options;
using WebhookUpdater.Configuration;

namespace WebhookUpdater.Containers;

public static class ContainersExtensions
{
    public static IServiceCollection AddContainers(this IServiceCollection services)
    {
        services.AddOptions<DockerOptions>().BindConfiguration(DockerOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<DockerOptions>, DockerOptionsValidator>();
        services.AddSingleton<DockerApi>();
        services.AddDockerResilience();
        services.AddSingleton<IContainerRuntime, DockerContainerRuntime>();
        services.AddSingleton<IContainerLookup>(provider => provider.GetRequiredService<IContainerRuntime>());
        services.AddRetiredSetting("Docker:IndexContainers", "every webhook event asks the engine for its containers");
        services.AddSingleton<IContainerLifecycle, DockerContainerLifecycle>();
        services.AddSingleton<IStackContainers, DockerStackContainers>();
        services.AddSingleton<IThrowawayContainers, DockerThrowawayContainers>();
        return services;
    }
}
