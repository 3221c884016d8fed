using System.Net;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using WebhookUpdater.Status;
using WebhookUpdater.Tests.Support;

namespace WebhookUpdater.Tests.Status;

/// <summary>How long a status-page session lives: idle expiry, sliding renewal, restarts and a new admin token.</summary>
public sealed class StatusSessionTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly List<TestApp> _apps = [];

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        foreach (var app in _apps)
        {
            await app.DisposeAsync();
        }
    }

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private TestApp App(string token = TestApp.AdminToken, string? keysFrom = null)
    {
        var app = new TestApp(new() { ["Admin:Token"] = token })
        {
            ConfigureServices = services => services.AddSingleton<TimeProvider>(_time),
        };
        if (keysFrom is not null)
        {
            // What a restart keeps: the data folder's key ring, which signs the session cookie.
            var keys = Path.Combine(app.DataDirectory, "keys");
            Directory.CreateDirectory(keys);
            foreach (var file in Directory.GetFiles(Path.Combine(keysFrom, "keys")))
            {
                File.Copy(file, Path.Combine(keys, Path.GetFileName(file)));
            }
        }

        _apps.Add(app);
        return app;
    }

    private static async Task<HttpStatusCode> OpenStatusAsync(HttpClient browser)
    {
        var response = await browser.GetAsync("/", Cancel);
        if (response.StatusCode == HttpStatusCode.Redirect)
        {
            Assert.Equal("/login", response.Headers.Location?.ToString());
        }

        return response.StatusCode;
    }

    /// <summary>Logs in and returns the session cookie as a browser would send it back.</summary>
    private static async Task<string> SessionCookieAsync(TestApp app)
    {
        var login = await app.Browser().LogInAsync(TestApp.AdminToken);
        Assert.Equal(HttpStatusCode.Redirect, login.StatusCode);
        var cookie = login.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith(StatusApi.CookieName + "=", StringComparison.Ordinal));
        return cookie[..cookie.IndexOf(';', StringComparison.Ordinal)];
    }

    private static HttpClient WithCookie(TestApp app, string cookie)
    {
        var client = app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = false });
        client.DefaultRequestHeaders.Add("Cookie", cookie);
        return client;
    }

    [Fact]
    public async Task A_session_left_idle_past_the_idle_timeout_ends()
    {
        var app = App();
        var browser = app.Browser();
        await browser.LogInAsync(TestApp.AdminToken);
        Assert.Equal(HttpStatusCode.OK, await OpenStatusAsync(browser));

        _time.Advance(StatusApi.IdleTimeout + TimeSpan.FromMinutes(1));

        Assert.Equal(HttpStatusCode.Redirect, await OpenStatusAsync(browser));
    }

    [Fact]
    public async Task An_open_page_keeps_its_session_alive_well_past_the_idle_timeout()
    {
        var app = App();
        var browser = app.Browser();
        await browser.LogInAsync(TestApp.AdminToken);
        var step = StatusApi.IdleTimeout * 2 / 3;

        for (var i = 0; i < 4; i++)
        {
            _time.Advance(step);
            Assert.Equal(HttpStatusCode.OK, await OpenStatusAsync(browser));
        }

        _time.Advance(StatusApi.IdleTimeout + TimeSpan.FromMinutes(1));
        Assert.Equal(HttpStatusCode.Redirect, await OpenStatusAsync(browser));
    }

    [Fact]
    public async Task A_restart_keeps_the_session_and_a_new_admin_token_ends_it()
    {
        var first = App();
        var cookie = await SessionCookieAsync(first);
        Assert.Equal(HttpStatusCode.OK, await OpenStatusAsync(WithCookie(first, cookie)));

        var restarted = App(keysFrom: first.DataDirectory);
        Assert.Equal(HttpStatusCode.OK, await OpenStatusAsync(WithCookie(restarted, cookie)));

        var rotated = App(token: "a-new-admin-token-9876543210", keysFrom: first.DataDirectory);
        Assert.Equal(HttpStatusCode.Redirect, await OpenStatusAsync(WithCookie(rotated, cookie)));
    }
}
