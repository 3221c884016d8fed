using Microsoft.Extensions.Options;

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
        services.AddSingleton<ContainerIndex>();
        services.AddSingleton<IContainerLookup>(provider => provider.GetRequiredService<ContainerIndex>());
        services.AddHostedService(provider => provider.GetRequiredService<ContainerIndex>()); // only to stop it
        services.AddSingleton<IContainerLifecycle, DockerContainerLifecycle>();
        services.AddSingleton<IStackContainers, DockerStackContainers>();
        return services;
    }
}
