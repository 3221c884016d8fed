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

        if (!ImageReference.TryParse(container.ConfiguredImage, out var current, out _)
            || !current.SameRepository(eventImage)
            || current.EffectiveTag != eventImage.EffectiveTag)
        {
            return Make(Decision.IgnoredTagMismatch, JobState.Ignored,
                $"the container runs {container.ConfiguredImage}, the event is for {eventImage}");
        }

        if (container.RunsDigest(eventImage, digest))
        {
            return Make(Decision.IgnoredAlreadyCurrent, JobState.Ignored, $"the container already runs {digest}");
        }

        return policy switch
        {
            Policies.Automatic => Make(Decision.Queued, JobState.Queued, "automatic update"),
            Policies.Notify => Make(Decision.Notified, JobState.Ignored, "notify only: listed in the daily update-available email, never applied"),
            _ => Make(Decision.AwaitingApproval, JobState.AwaitingApproval, "manual update: waiting for the operator's approval"),
        };
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
