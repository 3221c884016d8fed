using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace WebhookUpdater.Containers;

/// <summary>
/// A parsed image reference in its normalized form, the way Docker itself resolves one:
/// <c>nginx</c> is <c>docker.io/library/nginx:latest</c>.
/// </summary>
public sealed partial record ImageReference(string Registry, string Path, string? Tag, string? Digest)
{
    public const string DockerHub = "docker.io";

    /// <summary>registry/path, the part two references must share to be the same image.</summary>
    public string Repository => $"{Registry}/{Path}";

    /// <summary>The tag, or <c>latest</c> when the reference names neither a tag nor a digest.</summary>
    public string EffectiveTag => Tag ?? (Digest is null ? "latest" : "");

    public override string ToString()
    {
        var text = Repository;
        if (EffectiveTag.Length > 0)
        {
            text += ":" + EffectiveTag;
        }

        return Digest is null ? text : text + "@" + Digest;
    }

    /// <summary>The reference as Docker's pull API wants it: repository and tag (or digest).</summary>
    public string FamiliarRepository => Registry == DockerHub && Path.StartsWith("library/", StringComparison.Ordinal)
        ? Path["library/".Length..]
        : Registry == DockerHub ? Path : Repository;

    public static ImageReference Parse(string text) =>
        TryParse(text, out var reference, out var error)
            ? reference
            : throw new FormatException(error);

    public static bool TryParse(string? text, [NotNullWhen(true)] out ImageReference? reference, [NotNullWhen(false)] out string? error)
    {
        reference = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "an image reference is required, e.g. docker.io/gitea/gitea:1.22";
            return false;
        }

        var match = ReferencePattern().Match(text);
        if (!match.Success)
        {
            error = text.Any(char.IsUpper) && !text.Contains('/', StringComparison.Ordinal)
                ? $"'{text}' is not a valid image reference: repository names must be lowercase"
                : $"'{text}' is not a valid image reference (expected [registry/]repository[:tag][@sha256:digest])";
            return false;
        }

        var name = match.Groups["name"].Value;
        if (name.Length > 255)
        {
            error = "the repository name is longer than 255 characters";
            return false;
        }

        var (registry, path) = SplitRegistry(name);
        if (path.Any(char.IsUpper))
        {
            error = $"'{text}' is not a valid image reference: repository names must be lowercase";
            return false;
        }

        if (registry is "index.docker.io" or "registry-1.docker.io")
        {
            registry = DockerHub;
        }

        if (registry == DockerHub && !path.Contains('/', StringComparison.Ordinal))
        {
            path = "library/" + path;
        }

        var tag = match.Groups["tag"].Success ? match.Groups["tag"].Value : null;
        var digest = match.Groups["digest"].Success ? match.Groups["digest"].Value.ToLowerInvariant() : null;
        reference = new ImageReference(registry, path, tag, digest);
        error = null;
        return true;
    }

    /// <summary>Docker's rule: the first component is a registry when it has a dot or a port, or is localhost.</summary>
    private static (string Registry, string Path) SplitRegistry(string name)
    {
        var slash = name.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0)
        {
            return (DockerHub, name);
        }

        var first = name[..slash];
        var isRegistry = first.Contains('.', StringComparison.Ordinal)
            || first.Contains(':', StringComparison.Ordinal)
            || first == "localhost"
            || first.Any(char.IsUpper);
        return isRegistry ? (first.ToLowerInvariant(), name[(slash + 1)..]) : (DockerHub, name);
    }

    // The grammar of github.com/distribution/reference: [domain/]path[:tag][@digest].
    [GeneratedRegex(
        """
        ^(?<name>(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?/)?[a-zA-Z0-9]+(?:(?:[._]|__|-+)[a-zA-Z0-9]+)*(?:/[a-zA-Z0-9]+(?:(?:[._]|__|-+)[a-zA-Z0-9]+)*)*)(?::(?<tag>[\w][\w.-]{0,127}))?(?:@(?<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$
        """,
        RegexOptions.CultureInvariant | RegexOptions.ExplicitCapture)]
    private static partial Regex ReferencePattern();

    /// <summary>
    /// The reference as written (<c>gitea/gitea:1.22</c>, <c>gitea/gitea@sha256:…</c>) with another tag
    /// and no digest, spelled as the operator spelled the repository: what a tag move configures.
    /// </summary>
    public static string WithTag(string written, string tag)
    {
        var name = written;
        var at = name.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            name = name[..at];
        }

        var colon = name.LastIndexOf(':');
        if (colon > name.LastIndexOf('/'))
        {
            name = name[..colon];
        }

        return $"{name}:{tag}";
    }

    /// <summary>True when both name the same repository, whatever the tag or digest.</summary>
    public bool SameRepository(ImageReference other) =>
        string.Equals(Repository, other.Repository, StringComparison.Ordinal);
}
