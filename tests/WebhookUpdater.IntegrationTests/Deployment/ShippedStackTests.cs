using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Deployment;

/// <summary>
/// The stack as shipped (see <see cref="ShippedStack"/>), reached the way the world reaches it:
/// through its own nginx over TLS at https://DOMAIN, from sockets inside engine S's namespace.
/// </summary>
[Collection(DockerCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed partial class ShippedStackTests(ShippedStack stack) : IClassFixture<ShippedStack>
{
    [Fact]
    public async Task The_stack_as_shipped_turns_healthy_and_nginx_fronts_gitea_and_the_updater()
    {
        stack.Require();
        Assert.Equal(["certbot", "diun", "gitea", "nginx", "postgres", "webhook-updater"], stack.Containers.Keys.Order());

        // HTTP: everything but the ACME webroot goes to HTTPS on the one domain.
        using var http = stack.Client(ShippedStack.Http);
        var redirect = await http.GetAsync($"http://{ShippedStack.Domain}/user/login?next=x");
        Assert.Equal(HttpStatusCode.MovedPermanently, redirect.StatusCode);
        Assert.Equal($"https://{ShippedStack.Domain}/user/login?next=x", redirect.Headers.Location!.ToString());
        // The certbot container and nginx share the webroot volume.
        await stack.ExecAsync("certbot", "mkdir -p /var/www/certbot/.well-known/acme-challenge && printf token-123 > /var/www/certbot/.well-known/acme-challenge/abc");
        var challenge = await http.GetAsync($"http://{ShippedStack.Domain}/.well-known/acme-challenge/abc");
        Assert.Equal("token-123", await challenge.Content.ReadAsStringAsync());

        // HTTPS: gitea at /, the updater under /updater/.
        using var https = stack.Client(ShippedStack.Https);
        var gitea = await https.GetAsync(ShippedStack.Url("/"));
        Assert.Contains("wu-test app", await gitea.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var updater = await https.GetAsync(ShippedStack.Url("/updater/healthz"));
        Assert.Equal(HttpStatusCode.OK, updater.StatusCode);
        var bare = await https.GetAsync(ShippedStack.Url("/updater"));
        Assert.Equal(HttpStatusCode.MovedPermanently, bare.StatusCode);
        Assert.EndsWith("/updater/", bare.Headers.Location!.ToString(), StringComparison.Ordinal);

        // Diun runs on a copy of diun.yml that carries the secret from the secret file.
        var rendered = await stack.ExecAsync("diun", "cat /run/diun/diun.yml");
        Assert.Contains($"authorization: \"Bearer {stack.Secret("webhook_secret")}\"", rendered, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Through_nginx_the_webhook_metrics_and_readiness_are_refused_and_the_admin_api_answers_its_token()
    {
        stack.Require();
        using var https = stack.Client(ShippedStack.Https);

        foreach (var (method, path) in new[]
        {
            (HttpMethod.Get, "/updater/metrics"), (HttpMethod.Get, "/updater/readyz"), (HttpMethod.Get, "/updater/Metrics/"),
            (HttpMethod.Post, "/updater/api/diun"), (HttpMethod.Post, "/updater/API/diun/"), (HttpMethod.Post, "/updater/Api/Diun"), (HttpMethod.Post, "/updater//api/diun"),
        })
        {
            using var request = new HttpRequestMessage(method, ShippedStack.Url(path)) { Content = method == HttpMethod.Post ? new StringContent("{}", Encoding.UTF8, "application/json") : null };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", stack.Secret("webhook_secret"));
            var answer = await https.SendAsync(request);
            Assert.True(answer.StatusCode == HttpStatusCode.NotFound, $"{method} {path} through nginx answered {(int)answer.StatusCode}, not 404");
            // nginx's own page: the request never reached the service (which refuses them too).
            Assert.Contains("<center>nginx", await answer.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // The same endpoints answer inside the compose network: the refusal is nginx's.
        var inside = await stack.ExecAsync("certbot", ["python3", "-c", "import urllib.request as u\nfor p in ('/metrics','/readyz'):\n  print(u.urlopen('http://webhook-updater:8080'+p).status)"], []);
        Assert.Equal("200\n200", inside.Trim());

        var anonymous = await https.GetAsync(ShippedStack.Url("/updater/api/jobs"));
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        using var listing = new HttpRequestMessage(HttpMethod.Get, ShippedStack.Url("/updater/api/jobs"));
        listing.Headers.Authorization = new AuthenticationHeaderValue("Bearer", stack.Secret("admin_token"));
        var jobs = await https.SendAsync(listing);
        Assert.Equal(HttpStatusCode.OK, jobs.StatusCode);
        Assert.Equal(JsonValueKind.Array, JsonDocument.Parse(await jobs.Content.ReadAsStringAsync()).RootElement.ValueKind);
    }

    [Fact]
    public async Task Behind_nginx_each_client_has_its_own_rate_limit_and_a_forged_forwarded_address_is_ignored()
    {
        stack.Require();
        // Two callers of the published port, as two hosts on the internet would be.
        var published = new IPEndPoint(StackNamespace.Client(1), 443);
        using var first = stack.Client(published, StackNamespace.Client(2));
        using var second = stack.Client(published, StackNamespace.Client(3));

        // Approvals:PermitsPerMinute is 30 per client: the first client spends its own, each time
        // claiming another address in X-Forwarded-For, which nginx passes on after the client's.
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 31; i++)
        {
            statuses.Add(await SendForgedAsync(first, ShippedStack.Url("/updater/approvals/not-a-token"), i));
        }

        Assert.DoesNotContain(HttpStatusCode.TooManyRequests, statuses[..30]);
        Assert.Equal(HttpStatusCode.TooManyRequests, statuses[30]);
        Assert.NotEqual(HttpStatusCode.TooManyRequests, (await second.GetAsync(ShippedStack.Url("/updater/approvals/not-a-token"))).StatusCode);

        // Straight to the service from outside the proxy's network: X-Forwarded-For is not believed.
        var service = new IPEndPoint(await stack.AddressAsync("webhook-updater"), 8080);
        using var direct = stack.Client(service, StackNamespace.Client(4));
        statuses.Clear();
        for (var i = 0; i < 31; i++)
        {
            statuses.Add(await SendForgedAsync(direct, "http://webhook-updater:8080/approvals/not-a-token", i));
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, statuses[30]);
    }

    [Fact]
    public async Task A_gitea_update_is_held_for_approval_and_its_link_arrives_through_the_SES_endpoint_setting_and_opens_through_nginx()
    {
        stack.Require();
        var (jobId, giteaName, digest) = await HoldGiteaUpdateAsync("held");

        using var ses = ShippedStack.Ses();
        var link = await ApprovalLinkAsync(ses, digest);
        using var https = stack.Client(ShippedStack.Https);
        var page = await https.GetAsync(link);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains(giteaName, html, StringComparison.Ordinal);
        Assert.Contains(jobId, await (await https.GetAsync(link)).Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    // What the browser steps rely on in the pages (adjust here when the pages change).
    private const string TokenField = "#token";
    private const string LogInButton = "form.login button[type=submit]";
    private const string LogOutButton = "form[action$='/logout'] button[type=submit]";
    private const string ApproveButton = "button.approve";
    private const string JobState = "#job-state";

    private static string PendingJob(string jobId) => $"#pending-{jobId}";

    [Fact]
    public async Task In_Chromium_through_nginx_the_operator_logs_in_sees_the_job_logs_out_and_approves_by_email_link_and_the_token_stays_under_updater()
    {
        stack.Require();
        var (jobId, _, digest) = await HoldGiteaUpdateAsync("browser");
        using var ses = ShippedStack.Ses();
        var link = await ApprovalLinkAsync(ses, digest);
        var token = stack.Secret("admin_token");

        var (playwright, browser) = await Chromium.LaunchAsync(
            stack.ChromiumInNamespace(),
            [$"--host-resolver-rules=MAP {ShippedStack.Domain} 127.0.0.1"]);
        using var _ = playwright;
        await using var __ = browser;
        // The stack's certificate is self-made for the test: the browser is told to accept it.
        await using var context = await browser.NewContextAsync(new BrowserNewContextOptions { IgnoreHTTPSErrors = true });
        var requests = new List<IRequest>();
        var responses = new List<IResponse>();
        context.Request += (_, request) => requests.Add(request);
        context.Response += (_, response) => responses.Add(response);
        var page = await context.NewPageAsync();

        await page.GotoAsync(ShippedStack.Url("/updater/"));
        await page.FillAsync(TokenField, token);
        await page.ClickAsync(LogInButton);
        await Assertions.Expect(page.Locator(PendingJob(jobId))).ToBeVisibleAsync();
        Assert.StartsWith(ShippedStack.Url("/updater/"), page.Url, StringComparison.Ordinal);
        var cookies = await context.CookiesAsync();
        Assert.NotEmpty(cookies);
        Assert.All(cookies, c =>
        {
            Assert.Equal("/updater", c.Path);
            Assert.True(c.Secure, $"cookie {c.Name} is not Secure");
            Assert.True(c.HttpOnly, $"cookie {c.Name} is not HttpOnly");
        });
        await page.ClickAsync(LogOutButton);
        await Assertions.Expect(page.Locator(TokenField)).ToBeVisibleAsync();

        await page.GotoAsync(link);
        await page.ClickAsync(ApproveButton);
        // The progress page refreshes itself until the job ends. The made-up digest exists in no
        // registry, so the job ends after its backup at the pull, with nothing changed.
        await Assertions.Expect(page.Locator(JobState)).Not.ToHaveTextAsync(new Regex("^(queued|running|awaiting_approval)$"), new() { Timeout = 120_000 });
        Assert.StartsWith(ShippedStack.Url("/updater/approvals/"), page.Url, StringComparison.Ordinal);
        await Assertions.Expect(page.Locator(JobState)).ToHaveTextAsync("failed");
        Assert.Contains("nothing changed", await page.ContentAsync(), StringComparison.Ordinal);
        Assert.True((await stack.Docker.Containers.InspectContainerAsync(stack.Containers["gitea"])).State!.Running, "gitea stopped after a failed pull");

        // Every request the browser made: the token went only to the updater, and went at least once.
        var carrying = requests.Where(r => Carries(r, token)).Select(r => r.Url).ToList();
        Assert.NotEmpty(carrying);
        Assert.All(carrying, url => Assert.StartsWith(ShippedStack.Url("/updater/"), url, StringComparison.Ordinal));
        var setCookies = new List<string>();
        foreach (var response in responses)
        {
            setCookies.AddRange((await response.HeadersArrayAsync()).Where(h => h.Name.Equals("set-cookie", StringComparison.OrdinalIgnoreCase)).Select(h => h.Value));
        }

        Assert.NotEmpty(setCookies);
        Assert.All(setCookies, header =>
        {
            var attributes = header.Split(';').Select(a => a.Trim().ToLowerInvariant()).ToList();
            Assert.Contains("path=/updater", attributes);
            Assert.Contains("secure", attributes);
            Assert.Contains("httponly", attributes);
            Assert.Contains(attributes, a => a is "samesite=strict" or "samesite=lax");
        });
    }

    private static bool Carries(IRequest request, string token) =>
        request.Url.Contains(token, StringComparison.Ordinal)
        || request.Url.Contains(Uri.EscapeDataString(token), StringComparison.Ordinal)
        || (request.PostData ?? "").Contains(token, StringComparison.Ordinal)
        || (request.PostData ?? "").Contains(Uri.EscapeDataString(token), StringComparison.Ordinal)
        || request.Headers.Values.Any(v => v.Contains(token, StringComparison.Ordinal));

    /// <summary>Diun's request for a new gitea digest, from inside the compose network (the webhook is not published).</summary>
    private async Task<(string JobId, string Container, string Digest)> HoldGiteaUpdateAsync(string role)
    {
        var gitea = await stack.Docker.Containers.InspectContainerAsync(stack.Containers["gitea"]);
        var giteaName = gitea.Name.TrimStart('/');
        var newer = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(stack.Project + role)));
        var answer = await stack.ExecAsync(
            "certbot",
            ["python3", "-c", "import os,urllib.request as u;r=u.urlopen(u.Request('http://webhook-updater:8080/api/diun',data=os.environ['BODY'].encode(),headers={'Authorization':'Bearer '+os.environ['SECRET'],'Content-Type':'application/json'}));print(r.status);print(r.read().decode())"],
            ["BODY=" + ServiceHost.DiunPayload(gitea.Config!.Image, newer, giteaName), "SECRET=" + stack.Secret("webhook_secret")]);
        Assert.StartsWith("202", answer, StringComparison.Ordinal);
        var job = JsonDocument.Parse(answer[answer.IndexOf('{', StringComparison.Ordinal)..]).RootElement.GetProperty("jobs")[0];
        Assert.Equal(giteaName, job.GetProperty("container").GetString());
        Assert.Equal("manual", job.GetProperty("policy").GetString());
        Assert.Equal("awaiting_approval", job.GetProperty("decision").GetString());
        return (job.GetProperty("id").GetString()!, giteaName, newer);
    }

    private static async Task<string> ApprovalLinkAsync(SesEmulator ses, string digest)
    {
        var mail = await ses.WaitForAsync(ShippedStack.Operator, m => (m.Text ?? "").Contains(digest, StringComparison.Ordinal), TimeSpan.FromSeconds(60));
        var link = ApprovalLink().Match(mail.Text ?? "");
        Assert.True(link.Success, mail.Text);
        return link.Value;
    }

    private static async Task<HttpStatusCode> SendForgedAsync(HttpClient http, string url, int i)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Add("X-Forwarded-For", $"203.0.113.{i + 1}");
        return (await http.SendAsync(request)).StatusCode;
    }

    [GeneratedRegex($@"https://{ShippedStack.Domain}/updater/approvals/[^\s""<>]+")]
    private static partial Regex ApprovalLink();
}
