using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using WebhookUpdater.Containers;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Containers;

/// <summary>The service's own door to the engine (DOCKER_HOST), built as the service builds it, with the settings a test gives.</summary>
internal sealed class EngineDoor : IDisposable
{
    private readonly ServiceProvider _provider;

    public EngineDoor(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>(settings) { ["Docker:Endpoint"] = TestEnvironment.DockerHost })
            .Build();
        _provider = new ServiceCollection()
            .AddSingleton<IConfiguration>(configuration)
            .AddSingleton(TimeProvider.System)
            .AddLogging()
            .AddContainers()
            .BuildServiceProvider();
    }

    public IContainerActions Containers => _provider.GetRequiredService<IContainerActions>();

    public IContainerLookup Lookup => _provider.GetRequiredService<IContainerLookup>();

    public void Dispose() => _provider.Dispose();
}
