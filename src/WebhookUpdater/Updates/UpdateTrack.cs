using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.RegularExpressions;
using NuGet.Versioning;
using WebhookUpdater.Containers;

namespace WebhookUpdater.Updates;

/// <summary>How far a container may move: a new digest of its own tag, or a newer tag within a range.</summary>
public enum Track
{
    Digest,
    Patch,
    Minor,
    Major,
}

/// <summary>The <c>update.track</c> labels and the rules a tag move is judged by (docs/updates.md, "Tracks").</summary>
public static class Tracks
{
    public const string Label = "update.track";

    /// <summary><c>true</c>: pre-release tags (<c>1.2-rc1</c>) are candidates too.</summary>
    public const string PrereleasesLabel = "update.track.prereleases";

    public static string Name(this Track track) => track.ToString().ToLowerInvariant();

    /// <summary>No label (or an empty one) is <see cref="Track.Digest"/>; anything unknown is false.</summary>
    public static bool TryParse(string? label, out Track track)
    {
        var value = label?.Trim().ToLowerInvariant();
        track = Track.Digest;
        if (string.IsNullOrEmpty(value))
        {
            return true;
        }

        // By name only: Enum.TryParse would also take "2" and "patch,minor".
        foreach (var known in Enum.GetValues<Track>())
        {
            if (known.Name() == value)
            {
                track = known;
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Whether a tag move from <paramref name="current"/> to <paramref name="candidate"/> stays within
    /// the track; the reason says why not (or what the move is).
    /// </summary>
    public static TrackVerdict Judge(TagVersion current, TagVersion candidate, Track track, bool prereleases)
    {
        if (!current.SameShape(candidate, out var shapeReason))
        {
            return TrackVerdict.Outside(shapeReason);
        }

        if (candidate.PreRelease is { } label && !prereleases)
        {
            return TrackVerdict.Outside($"{candidate} is a pre-release ({label}) and {PrereleasesLabel} is not true");
        }

        if (candidate.Version <= current.Version)
        {
            return TrackVerdict.Outside($"{candidate} is not newer than {current}");
        }

        // patch keeps major.minor, minor keeps major, major keeps nothing.
        var kept = track switch { Track.Patch => 2, Track.Minor => 1, _ => 0 };
        var same = Math.Min(kept, current.Numbers.Count);
        if (!current.Numbers.Take(same).SequenceEqual(candidate.Numbers.Take(same)))
        {
            var allowed = track == Track.Patch ? $"{current.Prefix}{string.Join('.', current.Numbers.Take(same))}.x" : $"{current.Prefix}{current.Numbers[0]}.x";
            return TrackVerdict.OutOfRange($"{Label}={track.Name()} allows only {allowed} tags; {candidate} changes the {(same == 2 && current.Numbers[0] == candidate.Numbers[0] ? "minor" : "major")} version");
        }

        return TrackVerdict.Within($"moves from {current} to {candidate} ({Label}={track.Name()})");
    }

    /// <summary>
    /// True when <paramref name="image"/> names a newer version of the same repository and tag
    /// shape than <paramref name="than"/>: a pending job for it makes a job for the other pointless.
    /// </summary>
    public static bool IsNewerTag(string image, string than) =>
        ImageReference.TryParse(image, out var a, out _) && ImageReference.TryParse(than, out var b, out _)
        && a.SameRepository(b)
        && TagVersion.TryParse(a.EffectiveTag, out var newer) && TagVersion.TryParse(b.EffectiveTag, out var older)
        && newer.SameShape(older, out _)
        && newer.Version > older.Version;
}

/// <summary>What the track rules say of one tag move.</summary>
/// <param name="Allowed">Within the track: the move may be applied.</param>
/// <param name="Newer">The candidate has the same shape and is newer (true for every allowed move).</param>
public sealed record TrackVerdict(bool Allowed, bool Newer, string Reason)
{
    public static TrackVerdict Within(string reason) => new(true, true, reason);

    public static TrackVerdict OutOfRange(string reason) => new(false, true, reason);

    public static TrackVerdict Outside(string reason) => new(false, false, reason);
}

/// <summary>
/// A tag read as a version: an optional <c>v</c>, 1 to 4 numbers, then an optional suffix. A suffix
/// whose first dash-separated part is alpha, beta, rc, pre, preview or dev (with optional digits and
/// dots: <c>rc1</c>, <c>beta.2</c>) is a pre-release, and what follows it the variant; any other
/// suffix (<c>bookworm</c>, <c>alpine3.20</c>, <c>rootless</c>) is the variant.
/// </summary>
public sealed partial record TagVersion(string Tag, string Prefix, IReadOnlyList<int> Numbers, string? PreRelease, string Variant, NuGetVersion Version)
{
    public int Major => Numbers[0];

    public override string ToString() => Tag;

    public static bool TryParse(string? tag, [NotNullWhen(true)] out TagVersion? version)
    {
        version = null;
        var match = tag is null ? Match.Empty : TagPattern().Match(tag);
        if (!match.Success)
        {
            return false;
        }

        var numbers = new List<int>();
        foreach (var part in match.Groups["numbers"].Value.Split('.'))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
            {
                return false;
            }

            numbers.Add(number);
        }

        string? preRelease = null;
        var variant = match.Groups["suffix"].Value;
        var first = variant.Split('-')[0];
        if (PreReleasePattern().IsMatch(first))
        {
            preRelease = first;
            variant = variant.Length > first.Length ? variant[(first.Length + 1)..] : "";
        }

        var padded = numbers.Concat(Enumerable.Repeat(0, 4 - numbers.Count)).ToArray();
        version = new TagVersion(tag!, match.Groups["prefix"].Value, numbers, preRelease, variant,
            new NuGetVersion(padded[0], padded[1], padded[2], padded[3], preRelease?.ToLowerInvariant() ?? "", ""));
        return true;
    }

    /// <summary>Same prefix, variant and number of parts: only such tags are candidates for each other.</summary>
    public bool SameShape(TagVersion other, out string reason)
    {
        if (!string.Equals(Variant, other.Variant, StringComparison.OrdinalIgnoreCase) || Prefix != other.Prefix)
        {
            reason = $"{other} is another variant than {this} ({Describe(other)} instead of {Describe(this)})";
            return false;
        }

        if (Numbers.Count != other.Numbers.Count)
        {
            reason = $"{other} has {other.Numbers.Count} version parts, {this} has {Numbers.Count}: a container moves only to tags as precise as its own";
            return false;
        }

        reason = "";
        return true;

        static string Describe(TagVersion version) =>
            version.Variant.Length == 0 && version.Prefix.Length == 0 ? "no suffix" : $"'{version.Prefix}…{(version.Variant.Length == 0 ? "" : "-" + version.Variant)}'";
    }

    [GeneratedRegex(@"^(?<prefix>v?)(?<numbers>[0-9]{1,9}(?:\.[0-9]{1,9}){0,3})(?:-(?<suffix>[0-9A-Za-z][0-9A-Za-z._-]*))?$", RegexOptions.CultureInvariant | RegexOptions.ExplicitCapture)]
    private static partial Regex TagPattern();

    [GeneratedRegex(@"^(alpha|beta|rc|preview|pre|dev)(\.?[0-9]+)*$", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex PreReleasePattern();
}
