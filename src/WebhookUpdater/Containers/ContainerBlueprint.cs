// Docker's models say "not null" but null means "unset" to the engine: this file maps between the two.
#nullable disable warnings

using Docker.DotNet.Models;

namespace WebhookUpdater.Containers;

/// <summary>
/// Rebuilds a create request from a running container's inspect, so the new container is the
/// old one on a new image. Values the old image supplied as defaults are left out, so the new
/// image's defaults apply (a new version may change its Cmd or Env); what the operator set stays.
/// </summary>
public static class ContainerBlueprint
{
    public static CreateContainerParameters From(ContainerInspectResponse old, ImageInspectResponse? oldImage, string name, string image)
    {
        var config = old.Config;
        var defaults = oldImage?.Config;
        var hostConfig = old.HostConfig ?? new HostConfig();
        var networkMode = hostConfig.NetworkMode ?? "default";
        var sharesNamespace = networkMode is "host" || networkMode.StartsWith("container:", StringComparison.Ordinal);

        var parameters = new CreateContainerParameters
        {
            Name = name,
            Image = image,
            // Docker made these up when it created the old container: the short id as hostname, and
            // with host networking the host's name, which it refuses to be told again.
            Hostname = sharesNamespace || config.Hostname == old.ID[..Math.Min(12, old.ID.Length)] ? null : config.Hostname,
            Domainname = sharesNamespace ? null : NullIfEmpty(config.Domainname),
            User = SameAs(config.User, defaults?.User) ? null : NullIfEmpty(config.User),
            AttachStdin = config.AttachStdin,
            AttachStdout = config.AttachStdout,
            AttachStderr = config.AttachStderr,
            Tty = config.Tty,
            OpenStdin = config.OpenStdin,
            StdinOnce = config.StdinOnce,
            Env = Without(config.Env, defaults?.Env),
            Cmd = SameList(config.Cmd, defaults?.Cmd) ? null : config.Cmd,
            Entrypoint = SameList(config.Entrypoint, defaults?.Entrypoint) ? null : config.Entrypoint,
            WorkingDir = SameAs(config.WorkingDir, defaults?.WorkingDir) ? null : NullIfEmpty(config.WorkingDir),
            Healthcheck = SameHealthcheck(config.Healthcheck, defaults?.Healthcheck) ? null : config.Healthcheck,
            Labels = Without(config.Labels, defaults?.Labels),
            ExposedPorts = WithoutKeys(config.ExposedPorts, defaults?.ExposedPorts),
            Volumes = WithoutKeys(config.Volumes, defaults?.Volumes),
            StopSignal = SameAs(config.StopSignal, defaults?.StopSignal) ? null : NullIfEmpty(config.StopSignal),
            StopTimeout = config.StopTimeout,
            Shell = SameList(config.Shell, defaults?.Shell) ? null : config.Shell,
            NetworkDisabled = config.NetworkDisabled,
            HostConfig = hostConfig,
        };

        KeepAnonymousVolumes(old, hostConfig);
        parameters.NetworkingConfig = PrimaryNetwork(old, networkMode);
        return parameters;
    }

    /// <summary>The networks other than the primary one: Docker before API 1.44 takes one at create, the rest are connected after.</summary>
    public static IReadOnlyList<(string Network, EndpointSettings Endpoint)> SecondaryNetworks(ContainerInspectResponse old)
    {
        var primary = old.HostConfig?.NetworkMode ?? "default";
        return (old.NetworkSettings?.Networks ?? new Dictionary<string, EndpointSettings>())
            .Where(network => network.Key != primary && !(primary == "default" && network.Key == "bridge"))
            .Select(network => (network.Key, Endpoint(old, network.Value)))
            .ToList();
    }

    private static NetworkingConfig? PrimaryNetwork(ContainerInspectResponse old, string networkMode)
    {
        if (networkMode is "host" or "none" || networkMode.StartsWith("container:", StringComparison.Ordinal))
        {
            return null;
        }

        var networks = old.NetworkSettings?.Networks;
        var key = networkMode == "default" ? "bridge" : networkMode;
        return networks is not null && networks.TryGetValue(key, out var endpoint)
            ? new NetworkingConfig { EndpointsConfig = new Dictionary<string, EndpointSettings> { [key] = Endpoint(old, endpoint) } }
            : null;
    }

    /// <summary>Aliases and static addresses survive; the alias Docker adds itself (the short id) does not.</summary>
    private static EndpointSettings Endpoint(ContainerInspectResponse old, EndpointSettings endpoint)
    {
        var shortId = old.ID[..Math.Min(12, old.ID.Length)];
        var aliases = endpoint.Aliases?.Where(alias => alias != shortId && alias != old.ID).ToList();
        return new EndpointSettings
        {
            Aliases = aliases is { Count: > 0 } ? aliases : null,
            IPAMConfig = endpoint.IPAMConfig,
            Links = endpoint.Links,
            DriverOpts = endpoint.DriverOpts,
        };
    }

    /// <summary>
    /// An anonymous volume (VOLUME in the image, nothing named) would be a new, empty one on the
    /// new container: mount the old one again by name so its data stays.
    /// </summary>
    private static void KeepAnonymousVolumes(ContainerInspectResponse old, HostConfig hostConfig)
    {
        var declared = new HashSet<string>(StringComparer.Ordinal);
        foreach (var bind in hostConfig.Binds ?? [])
        {
            var parts = bind.Split(':');
            if (parts.Length >= 2)
            {
                declared.Add(parts[1]);
            }
        }

        foreach (var mount in hostConfig.Mounts ?? [])
        {
            declared.Add(mount.Target);
        }

        var binds = hostConfig.Binds?.ToList() ?? [];
        foreach (var mount in old.Mounts ?? [])
        {
            if (mount.Type == "volume" && !string.IsNullOrEmpty(mount.Name) && !declared.Contains(mount.Destination))
            {
                binds.Add($"{mount.Name}:{mount.Destination}{(mount.RW ? "" : ":ro")}");
            }
        }

        hostConfig.Binds = binds.Count > 0 ? binds : null;
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    private static bool SameAs(string? value, string? imageDefault) => string.Equals(value ?? "", imageDefault ?? "", StringComparison.Ordinal);

    private static bool SameList(IList<string>? value, IList<string>? imageDefault) =>
        (value ?? []).SequenceEqual(imageDefault ?? []);

    private static bool SameHealthcheck(HealthcheckConfig? value, HealthcheckConfig? imageDefault) =>
        value is null
        || (imageDefault is not null
            && SameList(value.Test, imageDefault.Test)
            && value.Interval == imageDefault.Interval
            && value.Timeout == imageDefault.Timeout
            && value.StartPeriod == imageDefault.StartPeriod
            && value.Retries == imageDefault.Retries);

    private static List<string>? Without(IList<string>? values, IList<string>? imageDefaults)
    {
        var kept = (values ?? []).Except(imageDefaults ?? [], StringComparer.Ordinal).ToList();
        return kept.Count > 0 ? kept : null;
    }

    private static Dictionary<string, string>? Without(IDictionary<string, string>? values, IDictionary<string, string>? imageDefaults)
    {
        var kept = (values ?? new Dictionary<string, string>())
            .Where(entry => imageDefaults is null || !imageDefaults.TryGetValue(entry.Key, out var d) || d != entry.Value)
            .ToDictionary(entry => entry.Key, entry => entry.Value);
        return kept.Count > 0 ? kept : null;
    }

    /// <summary>For sets Docker writes as maps to empty objects (exposed ports, volumes).</summary>
    private static Dictionary<string, TValue>? WithoutKeys<TValue>(IDictionary<string, TValue>? values, IDictionary<string, TValue>? imageDefaults)
    {
        var kept = (values ?? new Dictionary<string, TValue>())
            .Where(entry => imageDefaults is null || !imageDefaults.ContainsKey(entry.Key))
            .ToDictionary(entry => entry.Key, entry => entry.Value);
        return kept.Count > 0 ? kept : null;
    }
}
