using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using WebhookUpdater.Approvals;
using WebhookUpdater.Backups;
using WebhookUpdater.Certificates;
using WebhookUpdater.Notifications;
using WebhookUpdater.Status;
using WebhookUpdater.Updates;
using WebhookUpdater.Webhooks;
using WebhookUpdater.Tests.Support;

namespace WebhookUpdater.Tests.Configuration;

public sealed class ServiceRegistrationTests
{
    [Fact]
    public async Task The_host_as_Program_composes_it_builds_with_every_registration_validated()
    {
        await using var app = new TestApp { ValidateServices = true };

        // Building the provider validates every descriptor (ValidateOnBuild) and scope use (ValidateScopes).
        var services = app.Services;

        Assert.NotNull(services.GetRequiredService<WebhookUpdater.Updates.EventIntake>());
        Assert.NotEmpty(services.GetServices<WebhookUpdater.Persistence.RetentionRule>());
    }

    private static readonly Dictionary<string, (Action<IServiceCollection> Add, Action<IEndpointRouteBuilder> Map)> Features = new()
    {
        ["approvals"] = (services => services.AddApprovals(), routes => routes.MapApprovals()),
        ["backups"] = (services => services.AddBackups(), routes => routes.MapBackups()),
        ["certificates"] = (services => services.AddCertificates(), routes => routes.MapCertificates()),
        ["notifications"] = (services => services.AddNotifications(), routes => routes.MapNotifications()),
        ["status"] = (services => services.AddStatusPage(), routes => routes.MapStatusPage()),
        ["updates"] = (services => services.AddUpdates(), routes => routes.MapJobs()),
        ["webhooks"] = (services => services.AddDiunWebhook(), routes => routes.MapDiunWebhook()),
    };

    public static TheoryData<string> FeatureNames => [.. Features.Keys];

    [Theory]
    [MemberData(nameof(FeatureNames))]
    public async Task Each_feature_registered_alone_gives_its_endpoints_every_service_they_take(string feature)
    {
        // What the whole service registers says which handler parameters are services (the rest come from the request).
        await using var whole = new TestApp();
        var serviceInWhole = whole.Services.GetRequiredService<IServiceProviderIsService>();

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = Environments.Production });
        builder.Host.UseDefaultServiceProvider(options => { options.ValidateOnBuild = true; options.ValidateScopes = true; });
        builder.Configuration.AddInMemoryCollection(whole.Settings);
        var (add, map) = Features[feature];
        add(builder.Services);
        // Twice: a feature that two others need is added by both.
        add(builder.Services);
        await using var app = builder.Build();
        map(app);

        var taken = ((IEndpointRouteBuilder)app).DataSources.SelectMany(source => source.Endpoints)
            .SelectMany(endpoint => endpoint.Metadata.GetMetadata<MethodInfo>()?.GetParameters() ?? [])
            .Select(parameter => parameter.ParameterType)
            .Where(serviceInWhole.IsService)
            .Distinct()
            .ToList();
        Assert.NotEmpty(taken);
        var serviceAlone = app.Services.GetRequiredService<IServiceProviderIsService>();
        foreach (var type in taken)
        {
            Assert.True(serviceAlone.IsService(type), $"Add for {feature} does not register {type.Name}, which its endpoints take");
            Assert.NotNull(app.Services.GetRequiredService(type));
        }

        // A Lazy<T> is a factory ValidateOnBuild cannot see into: make each one.
        foreach (var lazy in builder.Services.Select(service => service.ServiceType).Where(type => type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Lazy<>)).Distinct())
        {
            Assert.NotNull(lazy.GetProperty(nameof(Lazy<object>.Value))!.GetValue(app.Services.GetRequiredService(lazy)));
        }
    }
}
