using Docker.DotNet;
using Docker.DotNet.Models;
using Polly;
using Polly.Registry;

namespace WebhookUpdater.Containers;

internal sealed class DockerImageActions(DockerApi engine, ResiliencePipelineProvider<string> pipelines) : IImageActions
{
    private readonly DockerClient _docker = engine.Client;

    private readonly ResiliencePipeline _pipeline = pipelines.Docker(DockerResilience.Patient);

    public async Task<IReadOnlyList<ImageEntry>> ListAsync(CancellationToken cancellationToken)
    {
        var images = await _pipeline.CallAsync("list-images", "all", token => _docker.Images.ListImagesAsync(new ImagesListParameters(), token), cancellationToken);
        return images.Select(image => new ImageEntry(
                image.ID,
                (image.RepoTags ?? []).Concat(image.RepoDigests ?? []).Where(name => !name.StartsWith("<none>", StringComparison.Ordinal)).ToList(),
                image.Size,
                new DateTimeOffset(DateTime.SpecifyKind(image.Created, DateTimeKind.Utc))))
            .ToList();
    }

    public Task TagAsync(string imageId, ImageReference reference, CancellationToken cancellationToken) =>
        _pipeline.CallAsync("tag-image", reference.ToString(), token => _docker.Images.TagImageAsync(
            imageId, new ImageTagParameters { RepositoryName = reference.FamiliarRepository, Tag = reference.EffectiveTag }, token), cancellationToken);

    public async Task<long> RemoveReferenceAsync(string reference, long size, CancellationToken cancellationToken)
    {
        var answer = await _pipeline.CallAsync("remove-image", reference, token => _docker.Images.DeleteImageAsync(
            reference, new ImageDeleteParameters { Force = false, NoPrune = false }, token), cancellationToken);
        return answer.Any(entry => entry.ContainsKey("Deleted")) ? size : 0;
    }
}
