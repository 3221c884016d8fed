using Microsoft.Extensions.DependencyInjection;
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
}
