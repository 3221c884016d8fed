using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using WebhookUpdater.Containers;
using WebhookUpdater.Persistence;

namespace WebhookUpdater.Updates;

/// <summary>The compose project's <c>.env</c>, when the operator mounts it.</summary>
public sealed class ComposeOptions
{
    public const string Section = "Compose";

    /// <summary>The label that names the <c>.env</c> variable holding a service's image (<c>GITEA_IMAGE</c>).</summary>
    public const string ImageVariableLabel = "update.image.env";

    /// <summary>The project's <c>.env</c> as mounted into the service (e.g. <c>/compose/.env</c>); empty: not mounted.</summary>
    public string? EnvFile { get; set; }

    /// <summary>After a tag move, write the new image into <see cref="EnvFile"/> (a copy of the file is kept first).</summary>
    public bool RewriteEnv { get; set; }

    /// <summary>The compose project <see cref="EnvFile"/> belongs to; empty: every compose project on the engine.</summary>
    public string? Project { get; set; }
}

/// <summary>Finds, and when allowed rewrites, the <c>.env</c> line a tag move leaves behind.</summary>
public sealed partial class ComposeEnv(IOptions<ComposeOptions> options, IOptions<StoreOptions> store, TimeProvider time)
{
    public const string ProjectLabel = "com.docker.compose.project";
    public const string ServiceLabel = "com.docker.compose.service";

    /// <summary>Null when the job kept its tag or the container is not part of a compose project.</summary>
    public async Task<ComposeDrift?> ReconcileAsync(string jobId, ContainerInfo container, string? from, string to, CancellationToken cancellationToken)
    {
        if (from is null || string.Equals(from, to, StringComparison.Ordinal) || container.Label(ProjectLabel) is not { Length: > 0 } project)
        {
            return null;
        }

        var settings = options.Value;
        var ours = string.IsNullOrWhiteSpace(settings.Project) || string.Equals(settings.Project, project, StringComparison.Ordinal);
        var envFile = ours && !string.IsNullOrWhiteSpace(settings.EnvFile) ? settings.EnvFile : null;
        var text = envFile is not null && File.Exists(envFile) ? await File.ReadAllTextAsync(envFile, cancellationToken) : null;

        // The new value: written before a restart, the file names the new image already.
        var variable = ImageVariable(container) ?? (text is null ? null : VariableHolding(text, from) ?? VariableHolding(text, to));
        var service = container.Label(ServiceLabel);
        var line = variable is null ? $"image: {to}" : $"{variable}={to}";
        var drift = new ComposeDrift(project, service, from, to, variable, line, Rewritten: false, Copy: null, Note: null);

        if (!settings.RewriteEnv || envFile is null || variable is null)
        {
            return settings.RewriteEnv && ours ? drift with { Note = WhyNot(envFile, text, variable) } : drift;
        }

        if (text is null)
        {
            return drift with { Note = $"{envFile} does not exist in the service's container: mount the project's .env there" };
        }

        if (ValueOf(text, variable) == to)
        {
            // Written before a restart: the copy of that run is the one to name.
            return drift with { Rewritten = true, Copy = ExistingCopy(jobId) };
        }

        try
        {
            var copy = await KeepCopyAsync(jobId, text, cancellationToken);
            await WriteInPlaceAsync(envFile, WithValue(text, variable, to), cancellationToken);
            return ValueOf(await File.ReadAllTextAsync(envFile, cancellationToken), variable) == to
                ? drift with { Rewritten = true, Copy = copy }
                : drift with { Note = $"{envFile} did not keep the new value (is it writable?)", Copy = copy };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return drift with { Note = $"{envFile} could not be rewritten: {e.Message}" };
        }
    }

    /// <summary>True when the mounted <c>.env</c> already gives the drift's variable its new value (the operator fixed it).</summary>
    public bool Names(ComposeDrift drift)
    {
        var envFile = options.Value.EnvFile;
        try
        {
            return drift.Variable is not null && !string.IsNullOrWhiteSpace(envFile) && File.Exists(envFile)
                && ValueOf(File.ReadAllText(envFile), drift.Variable) == drift.To;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The <c>.env</c> variable named by the container's label, when it is a valid name.</summary>
    internal static string? ImageVariable(ContainerInfo container) =>
        container.Label(ComposeOptions.ImageVariableLabel)?.Trim() is { } name && VariableName().IsMatch(name) ? name : null;

    /// <summary>The one variable whose value is <paramref name="image"/>; null when none or several are.</summary>
    internal static string? VariableHolding(string text, string image)
    {
        var holding = Assignments(text).Where(entry => entry.Value == image).Select(entry => entry.Name).Distinct().ToList();
        return holding.Count == 1 ? holding[0] : null;
    }

    /// <summary>The value the file gives <paramref name="variable"/> (the last assignment wins, as in compose).</summary>
    internal static string? ValueOf(string text, string variable) =>
        Assignments(text).LastOrDefault(entry => entry.Name == variable).Value;

    /// <summary>
    /// The file with <paramref name="variable"/> set to <paramref name="value"/>: its last assignment is
    /// replaced (keeping <c>export</c>, quotes and a trailing comment), or a line is added; nothing else changes.
    /// </summary>
    internal static string WithValue(string text, string variable, string value)
    {
        var newline = text.Contains("\r\n", StringComparison.Ordinal) ? "\r\n" : "\n";
        var lines = text.Split('\n');
        for (var i = lines.Length - 1; i >= 0; i--)
        {
            var match = Assignment().Match(lines[i].TrimEnd('\r'));
            if (!match.Success || match.Groups["name"].Value != variable)
            {
                continue;
            }

            var quote = match.Groups["quote"].Value;
            var rest = match.Groups["rest"].Value;
            var cr = lines[i].EndsWith('\r') ? "\r" : "";
            lines[i] = $"{match.Groups["lead"].Value}{variable}={quote}{value}{quote}{rest}{cr}";
            return string.Join('\n', lines);
        }

        var separator = text.Length == 0 || text.EndsWith('\n') ? "" : newline;
        return $"{text}{separator}{variable}={value}{newline}";
    }

    private static IEnumerable<(string Name, string Value)> Assignments(string text)
    {
        foreach (var raw in text.Split('\n'))
        {
            var match = Assignment().Match(raw.TrimEnd('\r'));
            if (match.Success)
            {
                yield return (match.Groups["name"].Value, match.Groups["value"].Value);
            }
        }
    }

    private static string WhyNot(string? envFile, string? text, string? variable) =>
        envFile is null ? "Compose:EnvFile is not set"
        : text is null ? $"{envFile} does not exist in the service's container"
        : variable is null ? $"neither the {ComposeOptions.ImageVariableLabel} label nor {envFile} names the variable that holds the image"
        : "";

    private string CopyFolder => Path.Combine(store.Value.DataDirectory, "compose-env");

    private string? ExistingCopy(string jobId) =>
        Directory.Exists(CopyFolder) ? Directory.EnumerateFiles(CopyFolder, $"*-{jobId}.env").Order(StringComparer.Ordinal).LastOrDefault() : null;

    /// <summary>The file as it was, in the service's data folder: a bind-mounted file's own folder is not writable.</summary>
    private async Task<string> KeepCopyAsync(string jobId, string text, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(CopyFolder);
        var path = Path.GetFullPath(Path.Combine(CopyFolder, $"{time.GetUtcNow():yyyyMMdd'T'HHmmss'Z'}-{jobId}.env"));
        await using (var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            await stream.WriteAsync(Encoding.UTF8.GetBytes(text), cancellationToken);
            stream.Flush(flushToDisk: true);
        }

        return path;
    }

    /// <summary>
    /// Truncate and write the same file: a bind-mounted file cannot be replaced by a rename
    /// (the mount holds the inode), so the copy taken first is what protects against a torn write.
    /// </summary>
    private static async Task WriteInPlaceAsync(string path, string text, CancellationToken cancellationToken)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.Read);
        stream.SetLength(0);
        await stream.WriteAsync(Encoding.UTF8.GetBytes(text), cancellationToken);
        stream.Flush(flushToDisk: true);
    }

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex VariableName();

    // NAME=value, NAME="value", export NAME='value' # comment
    [GeneratedRegex("""^(?<lead>\s*(?:export\s+)?)(?<name>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?<quote>["']?)(?<value>[^"'#\s]*)\k<quote>(?<rest>.*)$""")]
    private static partial Regex Assignment();
}
