using System.Text;
using System.Text.Json;
using Docker.DotNet.Models;

namespace WebhookUpdater.Containers;

/// <summary>
/// Registry credentials from the Docker CLI's config file (DOCKER_CONFIG or ~/.docker/config.json),
/// the <c>auths</c> entries that <c>docker login</c> writes. Credential helpers are not run.
/// </summary>
public static class RegistryCredentials
{
    public static AuthConfig? For(string registry, string? configDirectory = null)
    {
        var directory = configDirectory
            ?? Environment.GetEnvironmentVariable("DOCKER_CONFIG")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".docker");
        var file = Path.Combine(directory, "config.json");
        if (!File.Exists(file))
        {
            return null;
        }

        using var document = JsonDocument.Parse(File.ReadAllBytes(file));
        if (!document.RootElement.TryGetProperty("auths", out var auths) || auths.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        string[] keys = registry == ImageReference.DockerHub
            ? ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"]
            : [registry, $"https://{registry}", $"http://{registry}", $"https://{registry}/v1/", $"https://{registry}/v2/"];
        foreach (var key in keys)
        {
            if (auths.TryGetProperty(key, out var entry)
                && entry.TryGetProperty("auth", out var auth)
                && auth.GetString() is { Length: > 0 } encoded)
            {
                var pair = Encoding.UTF8.GetString(Convert.FromBase64String(encoded));
                var colon = pair.IndexOf(':', StringComparison.Ordinal);
                if (colon > 0)
                {
                    return new AuthConfig { Username = pair[..colon], Password = pair[(colon + 1)..], ServerAddress = key };
                }
            }
        }

        return null;
    }
}
