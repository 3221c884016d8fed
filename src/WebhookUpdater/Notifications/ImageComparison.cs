using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace WebhookUpdater.Notifications;

/// <summary>
/// One side of an update as the engine describes the image: its tag and what its OCI labels say.
/// A label the image does not carry stays null and is shown as "missing", never guessed.
/// </summary>
public sealed record ImageFacts(string Reference, string? Tag, string? Version, string? Revision, string? Source, string? Created, long? Size)
{
    public const string VersionLabel = "org.opencontainers.image.version";
    public const string RevisionLabel = "org.opencontainers.image.revision";
    public const string SourceLabel = "org.opencontainers.image.source";
    public const string CreatedLabel = "org.opencontainers.image.created";

    /// <summary>The side as known without the image: only its reference and tag.</summary>
    public static ImageFacts Unknown(string reference, string? tag) => new(reference, tag, null, null, null, null, null);

    public static ImageFacts FromLabels(string reference, string? tag, IReadOnlyDictionary<string, string> labels, long? size) =>
        new(reference, tag, Label(labels, VersionLabel), Label(labels, RevisionLabel), Label(labels, SourceLabel), Label(labels, CreatedLabel), size);

    private static string? Label(IReadOnlyDictionary<string, string> labels, string key) =>
        labels.TryGetValue(key, out var value) && !string.IsNullOrWhiteSpace(value) ? value.Trim() : null;
}

/// <summary>
/// What an approval approves: the image the container runs now (From) and the one it would run
/// (To), read from the engine after the new image was pulled; PullError says why To is unknown.
/// </summary>
public sealed record ImageComparison(ImageFacts From, ImageFacts To, string? PullError)
{
    public const string Missing = "missing";

    /// <summary>The rows both the email and the confirm page show: label, from, to.</summary>
    public IReadOnlyList<(string Label, string From, string To)> Rows() =>
    [
        ("Tag", From.Tag ?? Missing, To.Tag ?? Missing),
        ("Version", From.Version ?? Missing, To.Version ?? Missing),
        ("Revision", From.Revision ?? Missing, To.Revision ?? Missing),
        ("Created", From.Created ?? Missing, To.Created ?? Missing),
        ("Source", From.Source ?? Missing, To.Source ?? Missing),
        ("Size", Bytes(From.Size), Bytes(To.Size)),
    ];

    /// <summary>The size change, e.g. "+1.2 MB"; null when either size is unknown.</summary>
    public string? SizeChange => From.Size is { } from && To.Size is { } to
        ? (to >= from ? "+" : "-") + Bytes(Math.Abs(to - from))
        : null;

    /// <summary>The new version's release page, when its source is a forge whose URL scheme is known.</summary>
    public string? ReleaseNotes => ReleaseNotesLink(To.Source, To.Version);

    /// <summary>
    /// GitHub, Gitea, Forgejo and Codeberg: <c>&lt;source&gt;/releases/tag/&lt;version&gt;</c>; GitLab:
    /// <c>&lt;source&gt;/-/releases/&lt;version&gt;</c>. Any other host, or a source that is not an
    /// http(s) URL, gets no link: a guessed one could point anywhere.
    /// </summary>
    public static string? ReleaseNotesLink(string? source, string? version)
    {
        if (source is null || version is null || !Uri.TryCreate(source.Trim(), UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp) || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment))
        {
            return null;
        }

        var host = uri.Host.ToLowerInvariant();
        var path = uri.AbsolutePath.TrimEnd('/');
        path = path.EndsWith(".git", StringComparison.OrdinalIgnoreCase) ? path[..^4] : path;
        if (path.Count(c => c == '/') < 2)
        {
            return null; // not owner/repository
        }

        var root = $"{uri.Scheme}://{uri.Authority}{path}";
        var tag = Uri.EscapeDataString(version);
        if (host is "github.com" or "codeberg.org" || host.Contains("gitea", StringComparison.Ordinal) || host.Contains("forgejo", StringComparison.Ordinal))
        {
            return $"{root}/releases/tag/{tag}";
        }

        return host == "gitlab.com" || host.Contains("gitlab", StringComparison.Ordinal) ? $"{root}/-/releases/{tag}" : null;
    }

    public static string Bytes(long? bytes) => bytes switch
    {
        null => "unknown",
        < 1000 => $"{bytes} B",
        < 1_000_000 => (bytes.Value / 1e3).ToString("0.0 'kB'", CultureInfo.InvariantCulture),
        < 1_000_000_000 => (bytes.Value / 1e6).ToString("0.0 'MB'", CultureInfo.InvariantCulture),
        _ => (bytes.Value / 1e9).ToString("0.00 'GB'", CultureInfo.InvariantCulture),
    };

    public string ToJson() => JsonSerializer.Serialize(this, ImageComparisonJson.Default.ImageComparison);

    public static ImageComparison? FromJson(string? json)
    {
        if (string.IsNullOrEmpty(json))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize(json, ImageComparisonJson.Default.ImageComparison);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

[JsonSerializable(typeof(ImageComparison))]
internal sealed partial class ImageComparisonJson : JsonSerializerContext;
