#nullable disable warnings
using System.Net.Http.Headers;
using System.Text;
using System.Text.RegularExpressions;
using Docker.DotNet.Models;
using WebhookUpdater.IntegrationTests.Support;
using WebhookUpdater.IntegrationTests.Updates;

namespace WebhookUpdater.IntegrationTests.Approvals;

/// <summary>
/// Known secrets in, everything the service produces out: every email, every page and answer,
/// every log line (at Debug) of a manual update that fails and rolls back. None may hold a secret.
/// </summary>
[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed partial class SecretLeakTests(DockerFixture docker) : DockerTest
{
    protected override DockerFixture Docker => docker;

    private readonly SesEmulator _ses = new();
    private readonly string _operator = SesEmulator.NewAddress("secrets");

    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        await _ses.RequireAsync();
    }

    public override async ValueTask DisposeAsync()
    {
        _ses.Dispose();
        await base.DisposeAsync();
    }

    [GeneratedRegex(@"https?://[^\s""<>]+/approvals/[A-Za-z0-9_-]+")]
    private static partial Regex LinkPattern();

    private static readonly Dictionary<string, string> Secrets = new()
    {
        ["Approvals:SigningKey"] = ServiceHost.SigningKey,
        ["Backups:SigningKey"] = ServiceHost.BackupSigningKey,
        ["Webhook:Secret"] = ServiceHost.WebhookSecret,
        ["Admin:Token"] = ServiceHost.AdminToken,
        ["AWS_SECRET_ACCESS_KEY"] = SesEmulator.SecretAccessKey,
        ["AWS_ACCESS_KEY_ID"] = SesEmulator.AccessKeyId,
    };

    [Fact]
    public async Task No_secret_appears_in_any_email_page_answer_or_log_line()
    {
        var (repository, name) = await docker.RunPublishedAppAsync("secrets", "manual");
        var digest = await docker.PublishAsync(repository, "stable", "1.2-unhealthy");

        var settings = _ses.ServiceSettings(_operator, UpdatePipelineTests.FastGate, new Dictionary<string, string>
        {
            ["Logging:LogLevel:Default"] = "Debug",
            ["Logging:LogLevel:Microsoft.AspNetCore"] = "Debug",
        });

        var produced = new List<(string What, string Text)>();
        await using var service = await ServiceProcess.StartAsync(Data, settings);
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = service.Http.BaseAddress };
        async Task<string> Keep(string what, HttpResponseMessage response)
        {
            var text = $"{(int)response.StatusCode} {response.Headers} {response.Content.Headers}\n{await response.Content.ReadAsStringAsync()}";
            produced.Add((what, text));
            return text;
        }

        var accepted = await service.PostEventAsync(ServiceHost.DiunPayload($"{repository}:stable", digest, name));
        produced.Add(("webhook answer", accepted.ToString()));
        var jobId = accepted.GetProperty("jobs")[0].GetProperty("id").GetString();
        var available = await _ses.WaitForAsync(_operator, e => e.Subject.StartsWith("Approval needed", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        var link = LinkPattern().Match(available.Text).Value;

        await Keep("confirm page", await http.GetAsync(link));
        await Keep("tampered page", await http.GetAsync(link[..^3] + (link[^3] == 'A' ? "B" : "A") + link[^2..]));
        using (var json = new HttpRequestMessage(HttpMethod.Get, link[..^3] + "xyz"))
        {
            json.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
            await Keep("tampered problem", await http.SendAsync(json));
        }

        await Keep("approve", await http.PostAsync(link, new FormUrlEncodedContent([new("decision", "approve")])));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(150);
        while (DateTime.UtcNow < deadline && !(await Keep("progress page", await http.GetAsync(link + "/progress"))).Contains("id=\"job-state\">rolled_back", StringComparison.Ordinal))
        {
            await Task.Delay(1000);
        }

        await Keep("second post", await http.PostAsync(link, new FormUrlEncodedContent([new("decision", "approve")])));
        using (var admin = new HttpRequestMessage(HttpMethod.Post, $"/api/jobs/{jobId}/approve"))
        {
            admin.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ServiceHost.AdminToken);
            await Keep("admin approve of a finished job", await http.SendAsync(admin));
        }

        produced.Add(("job", (await service.GetJsonAsync($"/api/jobs/{jobId}")).ToString()));
        produced.Add(("outbox", (await service.GetJsonAsync("/api/notifications/outbox")).ToString()));
        var failed = await _ses.WaitForAsync(_operator, e => e.Subject.StartsWith($"Update of {name} failed", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        foreach (var email in await _ses.MailToAsync(_operator))
        {
            produced.Add(($"email '{email.Subject}'", $"{email.From} {email.Subject}\n{email.Text}\n{email.Html}"));
        }

        produced.Add(("service log", service.Output));

        // The scan means something only if all of it was really produced.
        Assert.Contains("rolled back", failed.Text, StringComparison.Ordinal);
        Assert.Contains("wu-test app 1.2-unhealthy", failed.Text, StringComparison.Ordinal);
        Assert.Contains(produced, p => p.What == "confirm page" && p.Text.StartsWith("200", StringComparison.Ordinal));
        Assert.Contains(produced, p => p.What == "tampered page" && p.Text.StartsWith("400", StringComparison.Ordinal));
        Assert.Contains(produced, p => p.What == "second post" && p.Text.StartsWith("409", StringComparison.Ordinal));
        Assert.Contains("Approval link issued", service.Output, StringComparison.Ordinal);
        Assert.Contains("dbug:", service.Output, StringComparison.Ordinal);
        var leaks = (from item in produced
                     from secret in Secrets
                     where item.Text.Contains(secret.Value, StringComparison.Ordinal)
                     select $"{secret.Key} in {item.What}").Distinct().ToList();
        Assert.True(leaks.Count == 0, string.Join("; ", leaks));
        Assert.True(Encoding.UTF8.GetByteCount(string.Concat(produced.Select(p => p.Text))) > 10_000, "too little was produced to mean anything");
    }
}
