using Microsoft.Extensions.DependencyInjection.Extensions;

namespace WebhookUpdater.Configuration;

/// <summary>
/// Lets each feature's <c>AddX</c> call the <c>AddX</c> of every feature it needs: the first call
/// registers the feature, a later one (from another feature, or from Program) changes nothing.
/// </summary>
public static class FeatureRegistration
{
    /// <summary>True the first time <paramref name="feature"/> is registered in <paramref name="services"/>; false after.</summary>
    public static bool FirstRegistrationOf(this IServiceCollection services, string feature)
    {
        if (services.Any(service => service.ServiceType == typeof(RegisteredFeature) && service.ImplementationInstance is RegisteredFeature { Name: var name } && name == feature))
        {
            return false;
        }

        services.AddSingleton(new RegisteredFeature(feature));
        return true;
    }

    /// <summary>
    /// A <c>Lazy&lt;T&gt;</c> for a long-lived service that needs <typeparamref name="T"/> only when it
    /// has work (a due backup, a queued job): <typeparamref name="T"/>, and what it loads (the Docker
    /// client, the senders), is made at first use instead of at start-up (idle memory, docs/benchmarks.md).
    /// </summary>
    public static IServiceCollection AddLazy<T>(this IServiceCollection services)
        where T : notnull
    {
        services.TryAddSingleton(provider => new Lazy<T>(provider.GetRequiredService<T>));
        return services;
    }

    /// <summary>The system clock, unless the host registered another (tests move time with theirs).</summary>
    public static IServiceCollection AddTime(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        return services;
    }
}

/// <summary>Marks a feature as registered (<see cref="FeatureRegistration.FirstRegistrationOf"/>).</summary>
public sealed record RegisteredFeature(string Name);
