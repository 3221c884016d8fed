using System.Diagnostics;
using System.Text;
using YamlDotNet.RepresentationModel;

namespace WebhookUpdater.IntegrationTests.Deployment;

/// <summary>The repository's deployment files, found from the test binary's folder upwards.</summary>
internal static class DeploymentFiles
{
    public static string Root { get; } = FindRoot();

    public static string ComposeDirectory => Path.Combine(Root, "compose");

    public static string ComposeFile => Path.Combine(ComposeDirectory, "docker-compose.yml");

    public static string EnvExample => Path.Combine(ComposeDirectory, ".env.example");

    public static string DiunConfig => Path.Combine(Root, "diun.yml");

    public static string DiunRenderScript => Path.Combine(ComposeDirectory, "diun", "render-config.sh");

    public static string NginxTemplate => Path.Combine(ComposeDirectory, "nginx", "templates", "default.conf.template");

    public static string Workflow => Path.Combine(Root, ".gitea", "workflows", "ci.yml");


    /// <summary>
    /// .env.example with its first section (the operator's) filled in and the operator's choices
    /// changed; every other line stays as the example has it, and nothing is added.
    /// </summary>
    internal static string OperatorEnv(string example, IReadOnlyDictionary<string, string> yours, IReadOnlyDictionary<string, string> chosen)
    {
        var lines = example.Split('\n');
        var yoursStart = Array.FindIndex(lines, l => l.StartsWith("# --- Yours", StringComparison.Ordinal));
        var yoursEnd = Array.FindIndex(lines, yoursStart + 1, l => l.StartsWith("# ---", StringComparison.Ordinal));
        Assert.True(yoursStart >= 0 && yoursEnd > yoursStart, ".env.example has a '# --- Yours' section followed by another '# ---' section");
        var marked = new HashSet<string>();
        var seen = new HashSet<string>();
        for (var i = 0; i < lines.Length; i++)
        {
            if (lines[i].StartsWith('#') || !lines[i].Contains('=', StringComparison.Ordinal))
            {
                continue;
            }

            var name = lines[i][..lines[i].IndexOf('=', StringComparison.Ordinal)];
            if (i > yoursStart && i < yoursEnd)
            {
                marked.Add(name);
                Assert.True(yours.ContainsKey(name), $".env.example marks {name} as the operator's: the test must fill it in");
                lines[i] = $"{name}={yours[name]}";
            }
            else if (chosen.TryGetValue(name, out var value))
            {
                lines[i] = $"{name}={value}";
            }

            seen.Add(name);
        }

        Assert.Equal(yours.Keys.Order(), marked.Order());
        Assert.All(chosen.Keys, name => Assert.Contains(name, seen));
        return string.Join('\n', lines);
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "WebhookUpdater.sln")) && File.Exists(Path.Combine(dir.FullName, "Dockerfile")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No repository root (WebhookUpdater.sln and Dockerfile) above {AppContext.BaseDirectory}");
    }

    public static YamlMappingNode LoadYaml(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        return Assert.IsType<YamlMappingNode>(stream.Documents.Single().RootNode);
    }

    public static YamlMappingNode LoadYamlFile(string path) => LoadYaml(File.ReadAllText(path));

    public static YamlMappingNode Map(this YamlMappingNode node, string key) =>
        Assert.IsType<YamlMappingNode>(node.Children[new YamlScalarNode(key)]);

    public static string? Scalar(this YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) ? Assert.IsType<YamlScalarNode>(value).Value : null;

    public static bool Has(this YamlMappingNode node, string key) => node.Children.ContainsKey(new YamlScalarNode(key));

    public static IReadOnlyList<string> Keys(this YamlMappingNode node) =>
        node.Children.Keys.Select(k => ((YamlScalarNode)k).Value!).ToList();

    public static IReadOnlyList<string> Strings(this YamlNode node) =>
        Assert.IsType<YamlSequenceNode>(node).Children.Select(c => ((YamlScalarNode)c).Value!).ToList();
}

/// <summary>A command line tool, run to the end with its output captured.</summary>
internal static class Cli
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public string Output => $"{Stdout}\n{Stderr}";
    }

    public static async Task<Result> RunAsync(
        string file,
        IEnumerable<string> args,
        string? workingDirectory = null,
        IReadOnlyDictionary<string, string?>? environment = null,
        TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? DeploymentFiles.Root,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                start.Environment.Remove(key);
            }
            else
            {
                start.Environment[key] = value;
            }
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            Assert.Fail($"{file} {string.Join(' ', start.ArgumentList)} did not finish within {timeout}: {await stdout}\n{await stderr}");
        }

        return new Result(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>The full path of a program on PATH, or null.</summary>
    public static string? Which(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, program))
            .FirstOrDefault(File.Exists);

    public static string Describe(this Result result, string what)
    {
        var text = new StringBuilder().Append(what).Append(": exit ").Append(result.ExitCode).AppendLine();
        return text.Append(result.Output.Length > 6000 ? result.Output[^6000..] : result.Output).ToString();
    }
}
