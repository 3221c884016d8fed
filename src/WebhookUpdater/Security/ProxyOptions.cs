using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Options;
using WebhookUpdater.Configuration;

namespace WebhookUpdater.Security;

/// <summary>How the service sits behind its reverse proxy (section <c>Proxy</c>).</summary>
public sealed class ProxyOptions
{
    public const string Section = "Proxy";

    /// <summary>
    /// Networks (CIDR, comma-separated) whose X-Forwarded-For and X-Forwarded-Proto are believed:
    /// the proxy's network. Loopback is always believed; any other sender's headers are ignored.
    /// </summary>
    public string KnownNetworks { get; set; } = "";

    /// <summary>The path the public URL puts before the service's own, e.g. <c>/updater</c>; empty: none.</summary>
    public string PathBase { get; set; } = "";

    public IEnumerable<System.Net.IPNetwork> ParseNetworks() =>
        KnownNetworks.Split([',', ';', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(System.Net.IPNetwork.Parse);
}

internal sealed class ProxyOptionsValidator : IValidateOptions<ProxyOptions>
{
    public ValidateOptionsResult Validate(string? name, ProxyOptions options)
    {
        var errors = new List<string>();
        foreach (var network in options.KnownNetworks.Split([',', ';', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!System.Net.IPNetwork.TryParse(network, out _))
            {
                errors.Add($"Proxy:KnownNetworks has '{network}', which is not a network: use CIDR notation, e.g. 172.30.0.0/24 (comma-separated).");
            }
        }

        if (options.PathBase.Length > 0 && (!options.PathBase.StartsWith('/') || options.PathBase.EndsWith('/') || options.PathBase.Contains("//", StringComparison.Ordinal)
            || Uri.EscapeDataString(options.PathBase.Replace("/", "", StringComparison.Ordinal)) != options.PathBase.Replace("/", "", StringComparison.Ordinal)))
        {
            errors.Add($"Proxy:PathBase '{options.PathBase}' must start with '/' and not end with one, in plain path characters, e.g. /updater (empty: none).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

public static class ProxyExtensions
{
    public static IServiceCollection AddReverseProxy(this IServiceCollection services)
    {
        if (!services.FirstRegistrationOf("ReverseProxy"))
        {
            return services;
        }

        services.AddOptions<ProxyOptions>().BindConfiguration(ProxyOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ProxyOptions>, ProxyOptionsValidator>();
        services.AddOptions<ForwardedHeadersOptions>().Configure<IOptions<ProxyOptions>>((forwarded, proxy) =>
        {
            forwarded.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            // Only the nearest hop: the proxy appends the address it saw to whatever the client sent.
            forwarded.ForwardLimit = 1;
            foreach (var network in proxy.Value.ParseNetworks())
            {
                forwarded.KnownIPNetworks.Add(network);
            }
        });
        return services;
    }

    /// <summary>
    /// First in the pipeline: the client's address and scheme, and the public path base, for
    /// everything after; then routing (after the path base, so routes match without it), and the
    /// refusal of private endpoints reached under the public path base.
    /// </summary>
    public static WebApplication UseReverseProxy(this WebApplication app)
    {
        app.UseForwardedHeaders();
        var pathBase = app.Services.GetRequiredService<IOptions<ProxyOptions>>().Value.PathBase;
        if (pathBase.Length > 0)
        {
            app.UsePathBase(pathBase);
        }

        app.UseRouting();
        app.Use((context, next) =>
        {
            if (context.Request.PathBase.HasValue && context.GetEndpoint()?.Metadata.GetMetadata<PrivateEndpoint>() is not null)
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            }

            return next(context);
        });
        return app;
    }

    /// <summary>
    /// The endpoint answers only on the service's own address (inside the compose network), never
    /// under the public path base that the proxy forwards.
    /// </summary>
    public static TBuilder PrivateToTheNetwork<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(PrivateEndpoint.Instance);
}

/// <summary>Marks an endpoint that the public path base must not reach.</summary>
public sealed class PrivateEndpoint
{
    public static readonly PrivateEndpoint Instance = new();

    private PrivateEndpoint()
    {
    }
}
