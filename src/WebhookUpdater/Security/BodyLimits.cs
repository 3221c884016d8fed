using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace WebhookUpdater.Security;

/// <summary>
/// How large a request body each kind of endpoint takes. Kestrel answers 413 once a body passes its
/// endpoint's limit; an endpoint without one gets <see cref="Default"/>.
/// </summary>
public static class BodyLimits
{
    /// <summary>Endpoints that take no body (reads, health, metrics, anything unmatched).</summary>
    public const long Default = 4 * 1024;

    /// <summary>The pages' forms: a token field and an antiforgery token.</summary>
    public const long Form = 8 * 1024;

    /// <summary>The admin API's JSON requests (a list of container names at most).</summary>
    public const long AdminApi = 16 * 1024;

    public static TBuilder WithBodyLimit<TBuilder>(this TBuilder builder, long bytes)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new BodyLimit(() => bytes));

    /// <summary>A limit from a setting, read per request (settings are validated at start, after the routes are built).</summary>
    public static TBuilder WithBodyLimit<TBuilder>(this TBuilder builder, Func<long> bytes)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new BodyLimit(bytes));

    /// <summary>The server-wide limit, for requests that match no endpoint with its own.</summary>
    public static IServiceCollection AddBodyLimits(this IServiceCollection services)
    {
        services.Configure<KestrelServerOptions>(kestrel => kestrel.Limits.MaxRequestBodySize = Default);
        return services;
    }
}

/// <summary>Read by routing, which sets the request's maximum body size before anything reads it.</summary>
public sealed class BodyLimit(Func<long> bytes) : IRequestSizeLimitMetadata
{
    public long? MaxRequestBodySize => bytes();
}
