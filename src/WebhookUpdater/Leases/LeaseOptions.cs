using Microsoft.Extensions.Options;
using WebhookUpdater.Configuration;
using WebhookUpdater.Persistence;

namespace WebhookUpdater.Leases;

/// <summary>How long an operation that runs by itself waits for a container another operation holds.</summary>
public sealed class LeaseOptions
{
    public const string Section = "Leases";

    /// <summary>
    /// The longest an update, a daily backup or a scheduled renewal waits for a container that an
    /// other operation holds (30 minutes); then it gives up and says who held it. Operator calls
    /// (restore, backup and renewal through the API) never wait: they answer 409 at once.
    /// </summary>
    public TimeSpan WaitTimeout { get; set; } = TimeSpan.FromMinutes(30);
}

internal sealed class LeaseOptionsValidator : IValidateOptions<LeaseOptions>
{
    public ValidateOptionsResult Validate(string? name, LeaseOptions options) =>
        options.WaitTimeout < TimeSpan.Zero || options.WaitTimeout > TimeSpan.FromDays(1)
            ? ValidateOptionsResult.Fail($"Leases:WaitTimeout is {options.WaitTimeout}: use 00:00:00 to 1.00:00:00 (default 00:30:00)")
            : ValidateOptionsResult.Success;
}

public static class LeasesExtensions
{
    public static IServiceCollection AddLeases(this IServiceCollection services)
    {
        if (!services.FirstRegistrationOf(nameof(Leases)))
        {
            return services;
        }

        services.AddPersistence();
        services.AddOptions<LeaseOptions>().BindConfiguration(LeaseOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<LeaseOptions>, LeaseOptionsValidator>();
        services.AddSingleton<ContainerLeases>();
        return services;
    }
}
