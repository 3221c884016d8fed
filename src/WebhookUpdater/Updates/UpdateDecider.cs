using WebhookUpdater.Backups;
using WebhookUpdater.Containers;

namespace WebhookUpdater.Updates;

/// <summary>
/// Decides, from the event and what Docker says of one container, what happens to it. Pure:
/// the order of the checks is the policy.
/// </summary>
public static class UpdateDecider
{
    public static UpdateDecision Decide(ImageReference eventImage, string digest, ContainerInfo container)
    {
        var policy = NormalizePolicy(container.Label(Policies.Label));
        UpdateDecision Make(Decision decision, JobState state, string reason) =>
            new(container.Name, container.Id, policy, decision, state, container.ConfiguredImage, container.ImageId, reason);

        if (policy == Policies.None)
        {
            return Make(Decision.IgnoredNoPolicy, JobState.Ignored, $"the container has no {Policies.Label} label");
        }

        if (policy is not (Policies.Automatic or Policies.Manual or Policies.Notify))
        {
            return Make(Decision.IgnoredUnknownPolicy, JobState.Ignored,
                $"{Policies.Label}={policy} is none of {Policies.Automatic}, {Policies.Manual}, {Policies.Notify}");
        }

        if (!ImageReference.TryParse(container.ConfiguredImage, out var current, out _) || !current.SameRepository(eventImage))
        {
            return Make(Decision.IgnoredTagMismatch, JobState.Ignored,
                $"the container runs {container.ConfiguredImage}, the event is for {eventImage}");
        }

        var move = "";
        if (current.EffectiveTag != eventImage.EffectiveTag)
        {
            var verdict = JudgeTagMove(current, eventImage, container);
            if (verdict.Decision is { } refused)
            {
                return Make(refused, JobState.Ignored, verdict.Reason);
            }

            move = ": " + verdict.Reason;
        }
        else if (container.RunsDigest(eventImage, digest))
        {
            return Make(Decision.IgnoredAlreadyCurrent, JobState.Ignored, $"the container already runs {digest}");
        }

        return policy switch
        {
            Policies.Automatic => Make(Decision.Queued, JobState.Queued, "automatic update" + move),
            Policies.Notify => Make(Decision.Notified, JobState.Ignored, "notify only" + move + ": listed in the daily update-available email, never applied"),
            _ => Make(Decision.AwaitingApproval, JobState.AwaitingApproval, "manual update" + move + ": waiting for the operator's approval"),
        };
    }

    /// <summary>
    /// An event for another tag of the container's repository: within its update.track, or the
    /// decision that refuses it. A digest track (the default) never changes the tag.
    /// </summary>
    private static (Decision? Decision, string Reason) JudgeTagMove(ImageReference current, ImageReference eventImage, ContainerInfo container)
    {
        var label = container.Label(Tracks.Label);
        if (!Tracks.TryParse(label, out var track))
        {
            return (Decision.IgnoredOutsideTrack,
                $"{Tracks.Label}={NormalizePolicy(label)} is not one of {string.Join(", ", Enum.GetValues<Track>().Select(t => t.Name()))}");
        }

        if (track == Track.Digest)
        {
            return (Decision.IgnoredTagMismatch,
                $"the container runs {container.ConfiguredImage}, the event is for {eventImage} ({Tracks.Label}={track.Name()} follows only its own tag)");
        }

        if (!TagVersion.TryParse(current.EffectiveTag, out var from))
        {
            return (Decision.IgnoredOutsideTrack, $"the container's tag {current.EffectiveTag} is not a version, so {Tracks.Label}={track.Name()} cannot move it to {eventImage.EffectiveTag}");
        }

        if (!TagVersion.TryParse(eventImage.EffectiveTag, out var to))
        {
            return (Decision.IgnoredOutsideTrack, $"{eventImage.EffectiveTag} is not a version tag");
        }

        var verdict = Tracks.Judge(from, to, track, BackupLabels.IsTrue(container.Labels, Tracks.PrereleasesLabel));

        // Checked before the range: whatever the track, the operator must hear that this move needs pg_upgrade.
        if (verdict.Newer && to.Major != from.Major && BackupLabels.IsTrue(container.Labels, BackupLabels.Postgres))
        {
            return (Decision.RefusedDatabaseMajor,
                $"{eventImage.EffectiveTag} is a new PostgreSQL major version ({from.Major} to {to.Major}): its data files need pg_upgrade or a dump and restore, which an image swap does not do; upgrade by hand (docs/updates.md, \"Tracks\")");
        }

        return verdict.Allowed ? (null, verdict.Reason) : (Decision.IgnoredOutsideTrack, verdict.Reason);
    }

    public static string NormalizePolicy(string? label)
    {
        var value = label?.Trim().ToLowerInvariant();
        if (string.IsNullOrEmpty(value))
        {
            return Policies.None;
        }

        // The value ends up in the journal and in emails: keep it short and printable.
        var printable = new string(value.Where(c => !char.IsControl(c)).Take(64).ToArray());
        return printable.Length == 0 ? Policies.None : printable;
    }
}
