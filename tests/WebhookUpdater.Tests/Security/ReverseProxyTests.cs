using System.Net;
using Microsoft.AspNetCore.Http;
using WebhookUpdater.Tests.Support;

namespace WebhookUpdater.Tests.Security;

/// <summary>The service behind nginx: who the client is, where its pages live, what stays private.</summary>
public sealed class ReverseProxyTests
{
    private static readonly IPAddress Proxy = IPAddress.Parse("10.9.0.5");
    private static readonly IPAddress Outsider = IPAddress.Parse("198.51.100.7");

    private static TestApp App(Dictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Proxy:KnownNetworks"] = "10.9.0.0/24",
            ["Proxy:PathBase"] = "/updater",
            ["Approvals:PermitsPerMinute"] = "2",
        };
        foreach (var (key, value) in more ?? [])
        {
            settings[key] = value;
        }

        return new TestApp(settings);
    }

    private static Task<HttpContext> SendAsync(TestApp app, string method, string path, IPAddress from, string? forwardedFor = null, string? forwardedProto = null, string? form = null, string? cookie = null) =>
        app.Server.SendAsync(context =>
        {
            if (cookie is not null)
            {
                context.Request.Headers.Cookie = cookie;
            }

            context.Request.Method = method;
            context.Request.Path = path;
            context.Connection.RemoteIpAddress = from;
            if (forwardedFor is not null)
            {
                context.Request.Headers["X-Forwarded-For"] = forwardedFor;
            }

            if (forwardedProto is not null)
            {
                context.Request.Headers["X-Forwarded-Proto"] = forwardedProto;
            }

            if (form is not null)
            {
                context.Request.ContentType = "application/x-www-form-urlencoded";
                context.Request.Body = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(form));
            }
        }, TestContext.Current.CancellationToken);

    /// <summary>A browser's login: the page, then its form with the antiforgery cookie and token it got.</summary>
    private static async Task<(string Html, HttpContext Login)> LogInAsync(TestApp app, string pathBase, IPAddress from, string? forwardedFor)
    {
        var page = await SendAsync(app, "GET", pathBase + "/login", from, forwardedFor, "https");
        var html = await new StreamReader(page.Response.Body).ReadToEndAsync(TestContext.Current.CancellationToken);
        var cookie = page.Response.Headers.SetCookie.ToString().Split(';')[0];
        var form = $"token={TestApp.AdminToken}&{PageForms.TokenField}={Uri.EscapeDataString(PageForms.FormToken(html))}";
        return (html, await SendAsync(app, "POST", pathBase + "/login", from, forwardedFor, "https", form, cookie));
    }

    [Fact]
    public async Task Two_clients_behind_the_proxy_have_separate_approval_rate_limit_buckets()
    {
        await using var app = App();
        _ = app.CreateClient();

        var first = new List<int>();
        for (var i = 0; i < 3; i++)
        {
            first.Add((await SendAsync(app, "GET", "/updater/approvals/not-a-token", Proxy, "203.0.113.1")).Response.StatusCode);
        }

        var second = (await SendAsync(app, "GET", "/updater/approvals/not-a-token", Proxy, "203.0.113.2")).Response.StatusCode;

        Assert.DoesNotContain(StatusCodes.Status429TooManyRequests, first[..2]);
        Assert.Equal(StatusCodes.Status429TooManyRequests, first[2]);
        Assert.NotEqual(StatusCodes.Status429TooManyRequests, second);
    }

    [Fact]
    public async Task A_forged_forwarded_for_from_outside_the_proxy_network_is_ignored()
    {
        await using var app = App();
        _ = app.CreateClient();

        for (var i = 0; i < 2; i++)
        {
            await SendAsync(app, "GET", "/approvals/not-a-token", Outsider, $"203.0.113.{10 + i}");
        }

        var forgedAgain = (await SendAsync(app, "GET", "/approvals/not-a-token", Outsider, "203.0.113.99")).Response.StatusCode;
        var realClientOfTheForgedAddress = (await SendAsync(app, "GET", "/updater/approvals/not-a-token", Proxy, "203.0.113.10")).Response.StatusCode;

        Assert.Equal(StatusCodes.Status429TooManyRequests, forgedAgain);
        Assert.NotEqual(StatusCodes.Status429TooManyRequests, realClientOfTheForgedAddress);
    }

    [Fact]
    public async Task The_status_page_keeps_its_forms_redirects_and_a_secure_cookie_under_the_public_path_base()
    {
        await using var app = App();
        _ = app.CreateClient();

        var status = await SendAsync(app, "GET", "/updater/", Proxy, "203.0.113.1", "https");
        var (html, login) = await LogInAsync(app, "/updater", Proxy, "203.0.113.1");

        Assert.Equal("/updater/login", status.Response.Headers.Location.ToString());
        Assert.Contains("action=\"/updater/login\"", html, StringComparison.Ordinal);
        Assert.Equal(StatusCodes.Status302Found, login.Response.StatusCode);
        Assert.Equal("/updater/", login.Response.Headers.Location.ToString());
        var cookie = login.Response.Headers.SetCookie.Single(c => c!.StartsWith("wu_session=", StringComparison.Ordinal))!.ToLowerInvariant();
        Assert.Contains("path=/updater", cookie, StringComparison.Ordinal);
        Assert.Contains("secure", cookie, StringComparison.Ordinal);
        Assert.Contains("httponly", cookie, StringComparison.Ordinal);
        Assert.Contains("samesite=strict", cookie, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_forwarded_https_from_outside_the_proxy_network_does_not_make_the_cookie_secure()
    {
        await using var app = App();
        _ = app.CreateClient();

        var (_, login) = await LogInAsync(app, "", Outsider, null);

        Assert.Equal(StatusCodes.Status302Found, login.Response.StatusCode);
        Assert.Contains("wu_session=", login.Response.Headers.SetCookie.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("secure", login.Response.Headers.SetCookie.ToString().ToLowerInvariant(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("POST", "/updater/api/diun")]
    [InlineData("POST", "/updater/API/diun/")]
    [InlineData("POST", "/updater/Api/Diun/")]
    [InlineData("GET", "/updater/metrics")]
    [InlineData("GET", "/updater/readyz")]
    [InlineData("GET", "/UPDATER/Readyz/")]
    public async Task The_webhook_metrics_and_readiness_are_refused_under_the_public_path_base(string method, string path)
    {
        await using var app = App();
        _ = app.CreateClient();

        var answer = await SendAsync(app, method, path, Proxy, "203.0.113.1", "https");

        Assert.Equal(StatusCodes.Status404NotFound, answer.Response.StatusCode);
    }

    [Fact]
    public async Task The_webhook_metrics_and_readiness_answer_on_the_service_own_address()
    {
        await using var app = App();
        _ = app.CreateClient();

        Assert.Equal(StatusCodes.Status200OK, (await SendAsync(app, "GET", "/readyz", Proxy)).Response.StatusCode);
        Assert.Equal(StatusCodes.Status200OK, (await SendAsync(app, "GET", "/metrics", Proxy)).Response.StatusCode);
        Assert.Equal(StatusCodes.Status401Unauthorized, (await SendAsync(app, "POST", "/api/diun", Proxy)).Response.StatusCode);
    }

    [Theory]
    [InlineData("Proxy:KnownNetworks", "10.9.0.0/33", "Proxy:KnownNetworks has '10.9.0.0/33', which is not a network")]
    [InlineData("Proxy:PathBase", "updater/", "Proxy:PathBase 'updater/' must start with '/'")]
    public async Task Bad_proxy_settings_name_the_setting_and_the_fix(string setting, string value, string message)
    {
        var error = await TestApp.StartErrorAsync(() => App(new() { [setting] = value }));

        Assert.Contains(message, error, StringComparison.Ordinal);
    }
}
