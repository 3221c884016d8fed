using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Mvc.Testing;

namespace WebhookUpdater.Tests.Support;

/// <summary>What a browser does with the status page's forms: it sends back the antiforgery token the page carried.</summary>
internal static partial class PageForms
{
    public const string TokenField = "__RequestVerificationToken";

    /// <summary>The antiforgery token of the first form on the page.</summary>
    public static string FormToken(string html) =>
        HiddenToken().Match(html) is { Success: true } match ? System.Net.WebUtility.HtmlDecode(match.Groups[1].Value) : throw new InvalidOperationException("the page has no form token: " + html);

    public static HttpClient Browser(this TestApp app) =>
        app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });

    /// <summary>Opens the login page and posts the token with the page's own form token.</summary>
    public static async Task<HttpResponseMessage> LogInAsync(this HttpClient browser, string token)
    {
        var page = await browser.GetStringAsync("/login", TestContext.Current.CancellationToken);
        return await browser.PostAsync("/login", new FormUrlEncodedContent([new("token", token), new(TokenField, FormToken(page))]), TestContext.Current.CancellationToken);
    }

    /// <summary>Posts a form of the page (no fields but its token), as pressing its button does.</summary>
    public static Task<HttpResponseMessage> PressAsync(this HttpClient browser, string action, string page) =>
        browser.PostAsync(action, new FormUrlEncodedContent([new(TokenField, FormToken(page))]), TestContext.Current.CancellationToken);

    [GeneratedRegex("name=\"__RequestVerificationToken\" (?:type=\"hidden\" )?value=\"([^\"]+)\"")]
    private static partial Regex HiddenToken();
}
