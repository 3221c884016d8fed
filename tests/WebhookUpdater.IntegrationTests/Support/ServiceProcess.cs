using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace WebhookUpdater.IntegrationTests.Support;

/// <summary>
/// The service as a real process (the built WebhookUpdater.dll), so a test can SIGKILL it
/// mid-update and start it again on the same data folder. With a phase to hang after, the test
/// host (tests/WebhookUpdater.TestHost) runs it: the service with the pipeline stopping there.
/// </summary>
internal sealed class ServiceProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private ServiceProcess(Process process, int port)
    {
        _process = process;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
    }

    public HttpClient Http { get; }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts the service expecting it to refuse: its exit code and output once it exited (fails the test if it answers instead).</summary>
    public static async Task<(int ExitCode, string Output)> StartupFailureAsync(string dataDirectory, Dictionary<string, string?> settings)
    {
        var service = Launch(dataDirectory, settings, DockerFixture.FreePort(), hangAfterPhase: null);
        await using (service)
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            try
            {
                await service._process.WaitForExitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"the service was expected to refuse to start, and ran on: {service.Output}");
            }

            return (service._process.ExitCode, service.Output);
        }
    }

    public static async Task<ServiceProcess> StartAsync(string dataDirectory, Dictionary<string, string?> settings, int? port = null, string? hangAfterPhase = null)
    {
        port ??= DockerFixture.FreePort();
        var service = Launch(dataDirectory, settings, port.Value, hangAfterPhase);
        var process = service._process;
        for (var i = 0; i < 120; i++)
        {
            if (process.HasExited)
            {
                Assert.Fail($"the service exited at start-up ({process.ExitCode}): {service.Output}");
            }

            try
            {
                if ((await service.Http.GetAsync("/healthz")).IsSuccessStatusCode)
                {
                    return service;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(250);
        }

        Assert.Fail($"the service did not answer /healthz: {service.Output}");
        return service;
    }

    private static ServiceProcess Launch(string dataDirectory, Dictionary<string, string?> settings, int port, string? hangAfterPhase)
    {
        var entry = hangAfterPhase is null ? "WebhookUpdater.dll" : "WebhookUpdater.TestHost.dll";
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, entry)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        start.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}";
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["Store__DataDirectory"] = dataDirectory;
        start.Environment["Webhook__Secret"] = ServiceHost.WebhookSecret;
        start.Environment["Admin__Token"] = ServiceHost.AdminToken;
        start.Environment["Approvals__SigningKey"] = ServiceHost.SigningKey;
        start.Environment["Backups__SigningKey"] = ServiceHost.BackupSigningKey;
        start.Environment["Approvals__BaseUrl"] = $"http://127.0.0.1:{port}";
        start.Environment["DOCKER_HOST"] = TestEnvironment.DockerHost;
        if (hangAfterPhase is not null)
        {
            start.Environment["WU_TEST_HANG_AFTER_PHASE"] = hangAfterPhase;
        }

        foreach (var (key, value) in settings)
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        var process = Process.Start(start)!;
        var service = new ServiceProcess(process, port);
        process.OutputDataReceived += (_, e) => service.Append(e.Data);
        process.ErrorDataReceived += (_, e) => service.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return service;
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }

    public async Task<JsonElement> PostEventAsync(string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/diun") { Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body)) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ServiceHost.WebhookSecret);
        var response = await Http.SendAsync(request);
        Assert.Equal(System.Net.HttpStatusCode.Accepted, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    public async Task<JsonElement> GetJsonAsync(string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ServiceHost.AdminToken);
        var response = await Http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    /// <summary>SIGKILL: no shutdown hooks, no flushing, like a power cut for the process.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            await KillAsync();
        }

        _process.Dispose();
        Http.Dispose();
    }
}
