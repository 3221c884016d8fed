using WebhookUpdater.Updates;

namespace WebhookUpdater.Webhooks;

/// <summary>
/// The JSON body of Diun's webhook notifier. Field names follow Diun's (snake_case);
/// <c>metadata</c> differs by provider, so it is kept as optional strings.
/// </summary>
public sealed record DiunEvent(
    string? DiunVersion,
    string? Hostname,
    string Status,
    string Provider,
    string Image,
    string? HubLink,
    string? MimeType,
    string Digest,
    string? Created,
    string? Platform,
    IReadOnlyDictionary<string, string> Metadata)
{
    public string? ContainerId => Metadata.TryGetValue("ctn_id", out var id) && !string.IsNullOrWhiteSpace(id) ? id.Trim() : null;

    /// <summary>Diun joins a container's names with commas and strips Docker's leading slash.</summary>
    public IReadOnlyList<string> ContainerNames =>
        Metadata.TryGetValue("ctn_names", out var names)
            ? names.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(name => name.TrimStart('/')).ToList()
            : [];

    /// <summary>The event in the updates' terms, with the body it came in.</summary>
    public UpdateEvent ToUpdateEvent(string received) =>
        new(Status, Provider, Image, Digest, Hostname, HubLink, ContainerId, ContainerNames) { Received = received };
}
