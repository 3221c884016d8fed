using Microsoft.Extensions.Options;

namespace WebhookUpdater.Containers;

public sealed class DockerOptions
{
    public const string Section = "Docker";

    /// <summary>The engine's endpoint; empty means DOCKER_HOST, else unix:///var/run/docker.sock.</summary>
    public string? Endpoint { get; set; }

    /// <summary>How long one Docker API call may take (a pull has its own, longer, budget).</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    public Uri ResolveEndpoint()
    {
        var text = string.IsNullOrWhiteSpace(Endpoint) ? Environment.GetEnvironmentVariable("DOCKER_HOST") : Endpoint;
        return new Uri(string.IsNullOrWhiteSpace(text) ? "unix:///var/run/docker.sock" : text);
    }
}

internal sealed class DockerOptionsValidator : IValidateOptions<DockerOptions>
{
    public ValidateOptionsResult Validate(string? name, DockerOptions options)
    {
        var text = string.IsNullOrWhiteSpace(options.Endpoint) ? Environment.GetEnvironmentVariable("DOCKER_HOST") : options.Endpoint;
        if (!string.IsNullOrWhiteSpace(text)
            && (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("unix" or "tcp" or "http" or "https")))
        {
            return ValidateOptionsResult.Fail(
                $"Docker:Endpoint (or DOCKER_HOST) '{text}' is not a Docker endpoint: use unix:///path/to/docker.sock or tcp://host:port");
        }

        return options.RequestTimeout <= TimeSpan.Zero
            ? ValidateOptionsResult.Fail("Docker:RequestTimeout must be positive, e.g. 00:00:30")
            : ValidateOptionsResult.Success;
    }
}
