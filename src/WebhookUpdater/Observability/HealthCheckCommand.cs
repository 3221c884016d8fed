namespace WebhookUpdater.Observability;

/// <summary>
/// <c>dotnet WebhookUpdater.dll healthcheck [URL]</c>: GETs the running service's <c>/healthz</c>
/// and exits 0 (2xx) or 1 (anything else). The container's HEALTHCHECK runs it, because the
/// ASP.NET runtime image has neither curl nor wget. It runs before the web host is built, so it
/// starts in a fraction of a second and never opens the journal or Docker.
/// </summary>
public static class HealthCheckCommand
{
    public const string Name = "healthcheck";

    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(3);

    public static bool Matches(string[] args) => args is [Name, ..];

    /// <summary>Runs the probe; prints one line saying why (Docker keeps it in the health log).</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter? output = null, CancellationToken cancellationToken = default)
    {
        output ??= Console.Out;
        Uri url;
        try
        {
            url = args.Length > 1
                ? new Uri(args[1], UriKind.Absolute)
                : ProbeUrl(Environment.GetEnvironmentVariable("ASPNETCORE_URLS"), Environment.GetEnvironmentVariable("ASPNETCORE_HTTP_PORTS"));
        }
        catch (UriFormatException e)
        {
            await output.WriteLineAsync($"unhealthy: no URL to probe ({e.Message}); pass one, e.g. healthcheck http://127.0.0.1:8080/healthz");
            return 1;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(DefaultTimeout);
        using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        try
        {
            using var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var code = (int)response.StatusCode;
            await output.WriteLineAsync($"{(response.IsSuccessStatusCode ? "healthy" : "unhealthy")}: GET {url} answered {code}");
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            var why = e is OperationCanceledException ? $"no answer within {DefaultTimeout.TotalSeconds:0} s" : e.Message;
            await output.WriteLineAsync($"unhealthy: GET {url} failed ({why})");
            return 1;
        }
    }

    /// <summary>
    /// The loopback URL of /healthz for the address Kestrel listens on: the first http entry of
    /// ASPNETCORE_URLS (a wildcard host becomes 127.0.0.1), else ASPNETCORE_HTTP_PORTS, else 8080
    /// (the port the .NET container images default to).
    /// </summary>
    public static Uri ProbeUrl(string? urls, string? httpPorts)
    {
        foreach (var entry in (urls ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!entry.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            var rest = entry["http://".Length..];
            var slash = rest.IndexOf('/', StringComparison.Ordinal);
            var authority = slash < 0 ? rest : rest[..slash];
            var colon = authority.LastIndexOf(':');
            var host = colon < 0 || authority.EndsWith(']') ? authority : authority[..colon];
            var port = colon < 0 || authority.EndsWith(']') ? "80" : authority[(colon + 1)..];
            host = host is "+" or "*" or "0.0.0.0" or "[::]" or "" ? "127.0.0.1" : host;
            return new Uri($"http://{host}:{port}/healthz");
        }

        var first = (httpPorts ?? "").Split([',', ';'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
        return new Uri($"http://127.0.0.1:{first ?? "8080"}/healthz");
    }
}
