using Microsoft.Playwright;

namespace WebhookUpdater.IntegrationTests.Support;

/// <summary>Debian's chromium, headless, driven by Playwright (which downloads no browser of its own here).</summary>
internal static class Chromium
{
    public static string ExecutablePath =>
        Environment.GetEnvironmentVariable("WU_TEST_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    /// <param name="wrapper">A program that runs Chromium with the arguments it gets (e.g. inside a network namespace).</param>
    /// <param name="args">Further Chromium switches.</param>
    public static async Task<(IPlaywright Playwright, IBrowser Browser)> LaunchAsync(string? wrapper = null, IEnumerable<string>? args = null)
    {
        if (!File.Exists(ExecutablePath))
        {
            TestEnvironment.Unavailable($"Chromium at {ExecutablePath} (scripts/testenv/chromium.sh installs it)");
        }

        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = wrapper ?? ExecutablePath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", .. args ?? []],
        });
        return (playwright, browser);
    }
}
