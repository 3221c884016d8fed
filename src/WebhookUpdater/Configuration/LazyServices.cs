namespace WebhookUpdater.Configuration;

/// <summary>
/// Lets a long-lived service take <c>Lazy&lt;T&gt;</c> for a dependency it needs only when it has
/// work (a due backup, a queued job): the dependency, and what it loads with it (the Docker
/// client, the senders), is made at first use instead of at start-up, so an idle service does
/// not keep code resident that it has not run (docs/benchmarks.md).
/// </summary>
public static class LazyServices
{
    public static IServiceCollection AddLazyResolution(this IServiceCollection services)
    {
        services.AddTransient(typeof(Lazy<>), typeof(LazyService<>));
        return services;
    }

    private sealed class LazyService<T>(IServiceProvider services) : Lazy<T>(services.GetRequiredService<T>)
        where T : notnull;
}
