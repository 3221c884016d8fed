using Microsoft.Extensions.Options;
using WebhookUpdater.Containers;
using WebhookUpdater.Notifications;

namespace WebhookUpdater.Approvals;

/// <summary>
/// Pulls a waiting job's new image before its email is written, so the email and the page say
/// what Approve would install. Only the image is fetched, by digest: no tag moves and no
/// container is touched. A failed pull is written down and shown; the pipeline pulls again.
/// </summary>
public sealed partial class ApprovalImages(
    IContainerActions actions,
    IContainerLookup containers,
    IOptionsMonitor<ApprovalOptions> options,
    TimeProvider time,
    ILogger<ApprovalImages> logger)
{
    private const int MaxErrorLength = 300;

    public async Task<ImageComparison> CompareAsync(PendingApproval job, CancellationToken cancellationToken)
    {
        var from = await CurrentAsync(job, cancellationToken);
        var newTag = TagOf(job.Image);
        if (!ImageReference.TryParse(job.Image, out var image, out var invalid))
        {
            return new ImageComparison(from, ImageFacts.Unknown(job.Image, newTag), invalid);
        }

        using var deadline = new CancellationTokenSource(options.CurrentValue.PullTimeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        try
        {
            var pulled = await actions.PullAsync(image with { Tag = null, Digest = job.Digest }, new Progress<string>(), linked.Token);
            LogPulled(logger, job.JobId, job.Image, job.Digest, pulled.Id);
            return new ImageComparison(from, ImageFacts.FromLabels(job.Image, newTag, pulled.Labels, pulled.Size), null);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            var error = deadline.IsCancellationRequested
                ? $"the pull took longer than {options.CurrentValue.PullTimeout} (Approvals:PullTimeout)"
                : e.Message.Length > MaxErrorLength ? e.Message[..MaxErrorLength] + "…" : e.Message;
            LogPullFailed(logger, job.JobId, job.Image, job.Digest, error);
            return new ImageComparison(from, ImageFacts.Unknown(job.Image, newTag), error);
        }
    }

    /// <summary>The image the container runs now: by id, since its tag may point elsewhere already.</summary>
    private async Task<ImageFacts> CurrentAsync(PendingApproval job, CancellationToken cancellationToken)
    {
        var reference = job.CurrentImage ?? "unknown";
        try
        {
            if (job.CurrentImageId is { } id && await containers.ImageAsync(id, cancellationToken) is { } current)
            {
                return ImageFacts.FromLabels(reference, TagOf(reference), current.Labels, current.Size);
            }
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            LogCurrentUnreadable(logger, job.JobId, reference, e.Message);
        }

        return ImageFacts.Unknown(reference, TagOf(reference));
    }

    private static string? TagOf(string? image) =>
        ImageReference.TryParse(image, out var reference, out _) ? reference.Tag ?? reference.Digest : null;

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId}: pulled {Image}@{Digest} ahead of the approval ({ImageId}); nothing else changed")]
    private static partial void LogPulled(ILogger logger, string jobId, string image, string digest, string imageId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId}: {Image}@{Digest} could not be pulled ahead of the approval ({Error}); the email says so and the update pulls again")]
    private static partial void LogPullFailed(ILogger logger, string jobId, string image, string digest, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId}: the current image {Image} could not be read: {Error}")]
    private static partial void LogCurrentUnreadable(ILogger logger, string jobId, string image, string error);
}
