using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using WebhookUpdater.Security;

namespace WebhookUpdater.Status;

/// <summary>
/// The status page's login: the admin token, entered once, becomes a signed cookie. The cookie
/// holds only an expiry and an HMAC keyed by the admin token, so rotating the token logs
/// everyone out, and nothing secret is ever in the cookie.
/// </summary>
public sealed class StatusSession(IOptionsMonitor<AdminOptions> admin, TimeProvider time)
{
    public const string CookieName = "wu_session";
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(12);

    public bool CanLogIn => !string.IsNullOrEmpty(admin.CurrentValue.Token);

    public bool TryLogIn(string? token, HttpResponse response)
    {
        if (!SecretComparer.Matches(token, admin.CurrentValue.Token))
        {
            return false;
        }

        var expires = time.GetUtcNow() + Lifetime;
        var value = expires.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        response.Cookies.Append(CookieName, $"{value}.{Sign(value)}", new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Strict,
            Secure = response.HttpContext.Request.IsHttps,
            Expires = expires,
            Path = CookiePath(response.HttpContext.Request),
        });
        return true;
    }

    public static void LogOut(HttpResponse response) =>
        response.Cookies.Delete(CookieName, new CookieOptions { Path = CookiePath(response.HttpContext.Request), Secure = response.HttpContext.Request.IsHttps, HttpOnly = true, SameSite = SameSiteMode.Strict });

    /// <summary>The public path base (behind the proxy's /updater), so the browser never sends the cookie to the site beside it.</summary>
    private static string CookiePath(HttpRequest request) => request.PathBase.HasValue ? request.PathBase.Value! : "/";

    public bool IsLoggedIn(HttpRequest request)
    {
        if (!request.Cookies.TryGetValue(CookieName, out var cookie) || cookie.Split('.') is not [var value, var mac]
            || !long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            || string.IsNullOrEmpty(admin.CurrentValue.Token))
        {
            return false;
        }

        var expected = Encoding.ASCII.GetBytes(Sign(value));
        return CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(mac))
            && DateTimeOffset.FromUnixTimeSeconds(seconds) > time.GetUtcNow();
    }

    private string Sign(string value)
    {
        var key = SHA256.HashData(Encoding.UTF8.GetBytes("status-session:" + admin.CurrentValue.Token));
        return Convert.ToBase64String(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(value)))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }
}
