using WebhookUpdater.Approvals;
using WebhookUpdater.Backups;
using WebhookUpdater.Certificates;
using WebhookUpdater.Configuration;
using WebhookUpdater.Containers;
using WebhookUpdater.Digests;
using WebhookUpdater.Health;
using WebhookUpdater.Notifications;
using WebhookUpdater.Observability;
using WebhookUpdater.Persistence;
using WebhookUpdater.Security;
using WebhookUpdater.Status;
using WebhookUpdater.Updates;
using WebhookUpdater.Webhooks;

// Sub-commands run before the web host is built (the container's HEALTHCHECK uses this one).
if (HealthCheckCommand.Matches(args)) { Environment.ExitCode = await HealthCheckCommand.RunAsync(args); return; }
// A command for a shell on the server (dotnet WebhookUpdater.dll restore <set id>), not the web app.
// The backup agent, run by the manager as a Swarm job on the node of a service's task.
if (SwarmAgentCommand.Matches(args)) { Environment.ExitCode = await SwarmAgentCommand.RunAsync(args, Console.Out); return; }
if (RestoreCommand.Matches(args))
{
    Environment.ExitCode = await RestoreCommand.RunAsync(args, Console.Out);
    return;
}

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.Services.AddPersistence();
builder.Services.AddContainers();
builder.Services.AddReverseProxy();
builder.Services.AddAdminAccess();
builder.Services.AddServiceAuthentication();
builder.Services.AddBodyLimits();
builder.Services.AddBackups();
builder.Services.AddHealthGate();
builder.Services.AddNotifications();
builder.Services.AddUpdates();
builder.Services.AddDiunWebhook();
builder.Services.AddApprovals();
builder.Services.AddStatusPage();
builder.Services.AddCertificates();
builder.Services.AddDigests();

builder.Services.LoadKeysOnFirstUse();
var app = builder.Build();

app.UseReverseProxy();
app.UseExceptionHandler();
app.UseStatusCodePages();
app.UseRateLimiter();
app.UseServiceAuthentication();

app.MapDefaultEndpoints();
app.MapDiunWebhook();
app.MapJobs();
app.MapApprovals();
app.MapNotifications();
app.MapStatusPage();
app.MapCertificates();
app.MapBackups();

app.Run();

/// <summary>The entry point, visible to the tests' WebApplicationFactory.</summary>
public partial class Program;
