using Microsoft.Extensions.Options;

namespace WebhookUpdater.Containers;

public sealed class DockerOptions
{
    public const string Section = "Docker";

    /// <summary>The engine's endpoint; empty means DOCKER_HOST, else unix:///var/run/docker.sock.</summary>
    public string? Endpoint { get; set; }

    /// <summary>How long one Docker API call may take (archive transfers and pulls are bounded by their progress instead).</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a command run in a container may take (the health command, nginx -t, nginx -s
    /// reload, pg_restore once all its input is sent). A step with less budget left (the health
    /// gate's timeout) stops it sooner. When it passes, the command is killed inside the container.
    /// </summary>
    public TimeSpan ExecTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Archive transfers (backup, restore), pg_dump and pg_restore fail, and their command is
    /// killed, when no byte has moved for this long. Their size and total time are not limited:
    /// a multi-GB volume is never cut off while it moves.
    /// </summary>
    public TimeSpan StallTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How long an image pull may take in all; it also fails when the registry sends no progress for <see cref="StallTimeout"/>.</summary>
    public TimeSpan PullTimeout { get; set; } = TimeSpan.FromMinutes(30);

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

        var failures = new List<string>();
        Positive(failures, "Docker:RequestTimeout", options.RequestTimeout, "00:00:30");
        Positive(failures, "Docker:ExecTimeout", options.ExecTimeout, "00:05:00");
        Positive(failures, "Docker:StallTimeout", options.StallTimeout, "00:02:00");
        Positive(failures, "Docker:PullTimeout", options.PullTimeout, "00:30:00");
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void Positive(List<string> failures, string setting, TimeSpan value, string fallback)
    {
        // A day at most: anything longer is a typo (days for hours), and a hung command would hold the worker that long.
        if (value <= TimeSpan.Zero || value > TimeSpan.FromDays(1))
        {
            failures.Add($"{setting} is {value}: use a duration from 00:00:01 to 1.00:00:00 (default {fallback})");
        }
    }
}
