using System.Collections.Concurrent;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using WebhookUpdater.IntegrationTests.Support;
using WebhookUpdater.Notifications;

namespace WebhookUpdater.IntegrationTests.Certificates;

/// <summary>Keeps every notification it is given, in place of the log notifier, for the tests to read.</summary>
internal sealed class RecordingNotifier : INotifier
{
    public ConcurrentQueue<Notification> Sent { get; } = new();

    public Task NotifyAsync(Notification notification, CancellationToken cancellationToken)
    {
        Sent.Enqueue(notification);
        return Task.CompletedTask;
    }
}

/// <summary>The real service in memory, against the engine under test (DOCKER_HOST), with notifications recorded.</summary>
internal sealed class CertificateServiceHost(string dataDirectory, Dictionary<string, string?> settings) : WebApplicationFactory<Program>
{
    public RecordingNotifier Notifications { get; } = new();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Production");
        builder.UseSetting("Store:DataDirectory", dataDirectory);
        builder.UseSetting("Webhook:Secret", ServiceHost.WebhookSecret);
        builder.UseSetting("Admin:Token", ServiceHost.AdminToken);
        builder.UseSetting("Approvals:SigningKey", ServiceHost.SigningKey);
        builder.UseSetting("Backups:SigningKey", ServiceHost.BackupSigningKey);
        builder.UseSetting("Approvals:BaseUrl", "http://127.0.0.1");
        builder.UseSetting("Logging:LogLevel:Default", "Warning");
        builder.UseSetting("Updates:RunWorker", "false");
        // The weekly schedule has its own fast test; here only the endpoint runs renewals.
        builder.UseSetting("Certificates:Schedule", "");
        foreach (var (key, value) in settings)
        {
            builder.UseSetting(key, value);
        }

        builder.ConfigureTestServices(services => services.AddSingleton<INotifier>(Notifications));
    }

    public HttpClient Admin()
    {
        var client = CreateClient();
        client.Timeout = TimeSpan.FromMinutes(3);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ServiceHost.AdminToken);
        return client;
    }
}
