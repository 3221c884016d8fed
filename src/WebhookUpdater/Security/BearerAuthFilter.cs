using Microsoft.Extensions.Options;

namespace WebhookUpdater.Security;

public static class BearerAuthFilter
{
    /// <summary>
    /// Puts a bearer-secret check on every endpoint of the group. A missing or wrong secret gets
    /// 401 with problem+json and touches nothing else.
    /// </summary>
    public static TBuilder RequireBearerSecret<TBuilder, TOptions>(this TBuilder builder, Func<TOptions, string?> secret, Action<HttpContext>? onRejected = null)
        where TBuilder : IEndpointConventionBuilder
        where TOptions : class
    {
        builder.AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            var expected = secret(http.RequestServices.GetRequiredService<IOptionsMonitor<TOptions>>().CurrentValue);
            if (SecretComparer.Matches(SecretComparer.BearerToken(http.Request), expected))
            {
                return await next(context);
            }

            onRejected?.Invoke(http);
            http.Response.Headers.WWWAuthenticate = "Bearer";
            return TypedResults.Problem(
                statusCode: StatusCodes.Status401Unauthorized,
                title: "Unauthorized",
                detail: "Send the configured secret as 'Authorization: Bearer <secret>'.");
        });
        return builder;
    }
}
