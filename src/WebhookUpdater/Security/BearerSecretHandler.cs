using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace WebhookUpdater.Security;

/// <summary>A scheme whose only credential is one shared secret sent as <c>Authorization: Bearer …</c>.</summary>
public sealed class BearerSecretOptions : AuthenticationSchemeOptions
{
    /// <summary>The configured secret, read on every request so a reloaded setting applies at once.</summary>
    public Func<IServiceProvider, string?> Secret { get; set; } = _ => null;

    /// <summary>Called when a request is turned away (the webhook counts them).</summary>
    public Action<HttpContext>? OnRefused { get; set; }
}

/// <summary>
/// Compares the bearer token with the configured secret in constant time; the token itself is
/// never logged, put in a claim or echoed. A refusal is 401 problem+json, before any body is read.
/// </summary>
public sealed class BearerSecretHandler(IOptionsMonitor<BearerSecretOptions> options, ILoggerFactory logger, UrlEncoder encoder)
    : AuthenticationHandler<BearerSecretOptions>(options, logger, encoder)
{
    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var presented = SecretComparer.BearerToken(Request);
        if (presented is null)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        if (!SecretComparer.Matches(presented, Options.Secret(Context.RequestServices)))
        {
            return Task.FromResult(AuthenticateResult.Fail("The bearer token is not the configured secret."));
        }

        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, Scheme.Name)], Scheme.Name);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), Scheme.Name)));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Options.OnRefused?.Invoke(Context);
        Response.Headers.WWWAuthenticate = "Bearer";
        await TypedResults.Problem(
                statusCode: StatusCodes.Status401Unauthorized,
                title: "Unauthorized",
                detail: "Send the configured secret as 'Authorization: Bearer <secret>'.")
            .ExecuteAsync(Context);
    }
}
