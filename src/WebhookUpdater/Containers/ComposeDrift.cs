using System.Text.Json;
using System.Text.Json.Serialization;

namespace WebhookUpdater.Containers;

/// <summary>
/// After a tag move, the compose project still names the old tag, so a later <c>docker compose up -d</c>
/// would recreate the container on it. This is the line that fixes that, and whether the service wrote it.
/// </summary>
/// <param name="Variable">The <c>.env</c> variable that holds the image; null when neither a label nor the file says.</param>
/// <param name="Line">What to write: <c>GITEA_IMAGE=gitea/gitea:1.23</c>, or the compose file's <c>image:</c> line.</param>
/// <param name="Rewritten">The service wrote <see cref="Line"/> into the mounted <c>.env</c>.</param>
/// <param name="Copy">Where the file's previous content was kept.</param>
/// <param name="Note">Why the file was not rewritten, when it was meant to be.</param>
public sealed record ComposeDrift(
    string Project,
    string? Service,
    string From,
    string To,
    string? Variable,
    string Line,
    bool Rewritten,
    string? Copy,
    string? Note)
{
    /// <summary>One sentence for a step, an email or a page.</summary>
    public string Summary => Rewritten
        ? $"{Variable} in the compose project's .env now names {To} (previous file kept at {Copy})"
        : Variable is null
            ? $"the compose project {Project} still names {From}: change the image of service {Service} to {To} ({Line}) before the next `docker compose up -d`"
            : $"the compose project {Project} still names {From}: set {Line} in its .env before the next `docker compose up -d`{(Note is null ? "" : $" ({Note})")}";

    internal string ToJson() => JsonSerializer.Serialize(this, ComposeJson.Default.ComposeDrift);

    internal static ComposeDrift? FromJson(string? json) =>
        string.IsNullOrEmpty(json) ? null : JsonSerializer.Deserialize(json, ComposeJson.Default.ComposeDrift);
}

[JsonSerializable(typeof(ComposeDrift))]
internal sealed partial class ComposeJson : JsonSerializerContext;
