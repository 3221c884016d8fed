namespace WebhookUpdater.Updates;

/// <summary>
/// A new image reported for a repository, in the terms the updates decide by. The webhook maps
/// its sender's event to this; the journal keeps every field, so a deferred event is decided
/// later from the same values without reading the sender's body again.
/// </summary>
public sealed record UpdateEvent(
    string Status,
    string Provider,
    string Image,
    string Digest,
    string? Hostname,
    string? HubLink,
    string? ContainerId,
    IReadOnlyList<string> ContainerNames)
{
    /// <summary>The body as it was received, kept verbatim in the journal for the operator; never read back.</summary>
    public string Received { get; init; } = "";
}
