using System.Text;

namespace WebhookUpdater.Notifications;

/// <summary>One new image in a digest email: which container, what is available, when it was seen.</summary>
public sealed record DigestLine(string JobId, string Container, string? CurrentImage, string Image, string Digest, string? HubLink, DateTimeOffset SeenAt);

/// <summary>
/// Several new images in one email: the daily "update available" list of notify-only containers,
/// or the weekly list of versions outside the track a manual container chose. Never applied.
/// </summary>
public sealed record DigestNotification(string Kind, string Title, string Intro, IReadOnlyList<DigestLine> Lines) : Notification(Kind)
{
    public override string Subject => $"{Title}: {string.Join(", ", Lines.Select(line => line.Container).Distinct(StringComparer.Ordinal))}";

    public override string Summary
    {
        get
        {
            var text = new StringBuilder().AppendLine(Intro).AppendLine();
            foreach (var line in Lines)
            {
                text.AppendLine($"- {line.Container}: {line.Image} ({line.Digest}), seen {line.SeenAt.UtcDateTime:yyyy-MM-dd HH:mm} UTC");
                text.AppendLine($"  running now: {line.CurrentImage ?? "unknown"}");
                if (!string.IsNullOrWhiteSpace(line.HubLink))
                {
                    text.AppendLine($"  {line.HubLink}");
                }
            }

            return text.ToString();
        }
    }
}
