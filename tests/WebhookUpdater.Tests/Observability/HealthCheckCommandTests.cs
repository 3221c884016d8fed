using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using WebhookUpdater.Observability;

namespace WebhookUpdater.Tests.Observability;

public sealed class HealthCheckCommandTests
{
    [Theory]
    [InlineData("http://+:8080", null, "http://127.0.0.1:8080/healthz")]
    [InlineData("http://*:9000;https://+:9443", null, "http://127.0.0.1:9000/healthz")]
    [InlineData("https://+:9443;http://0.0.0.0:9001", null, "http://127.0.0.1:9001/healthz")]
    [InlineData("http://[::]:9002", null, "http://127.0.0.1:9002/healthz")]
    [InlineData("http://127.0.0.1:18080/", null, "http://127.0.0.1:18080/healthz")]
    [InlineData("http://localhost", null, "http://localhost/healthz")]
    [InlineData(null, "8085,8086", "http://127.0.0.1:8085/healthz")]
    [InlineData(null, null, "http://127.0.0.1:8080/healthz")]
    public void The_probe_goes_to_the_loopback_address_kestrel_listens_on(string? urls, string? ports, string expected)
    {
        Assert.Equal(new Uri(expected), HealthCheckCommand.ProbeUrl(urls, ports));
    }

    [Fact]
    public void Only_the_healthcheck_word_selects_the_command()
    {
        Assert.True(HealthCheckCommand.Matches(["healthcheck"]));
        Assert.True(HealthCheckCommand.Matches(["healthcheck", "http://127.0.0.1:1/healthz"]));
        Assert.False(HealthCheckCommand.Matches([]));
        Assert.False(HealthCheckCommand.Matches(["--urls", "healthcheck"]));
    }

    [Theory]
    [InlineData(HttpStatusCode.OK, 0)]
    [InlineData(HttpStatusCode.ServiceUnavailable, 1)]
    public async Task The_exit_code_follows_the_answer_of_healthz(HttpStatusCode status, int exitCode)
    {
        await using var server = await StartServerAsync(status);
        var output = new StringWriter();

        var code = await HealthCheckCommand.RunAsync(["healthcheck", $"{server.Url}/healthz"], output, TestContext.Current.CancellationToken);

        Assert.Equal(exitCode, code);
        Assert.Contains($"answered {(int)status}", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Nothing_listening_is_unhealthy_with_the_reason()
    {
        var port = FreePort();
        var output = new StringWriter();

        var code = await HealthCheckCommand.RunAsync(["healthcheck", $"http://127.0.0.1:{port}/healthz"], output, TestContext.Current.CancellationToken);

        Assert.Equal(1, code);
        Assert.StartsWith("unhealthy: GET", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_service_that_never_answers_is_unhealthy_within_the_timeout()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start(); // accepts the connection, never answers
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var output = new StringWriter();
        var started = DateTime.UtcNow;

        var code = await HealthCheckCommand.RunAsync(["healthcheck", $"http://127.0.0.1:{port}/healthz"], output, TestContext.Current.CancellationToken);

        Assert.Equal(1, code);
        Assert.Contains("no answer within 3 s", output.ToString(), StringComparison.Ordinal);
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromSeconds(2.5), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_bad_url_argument_is_unhealthy_with_a_hint()
    {
        var output = new StringWriter();

        var code = await HealthCheckCommand.RunAsync(["healthcheck", "not a url"], output, TestContext.Current.CancellationToken);

        Assert.Equal(1, code);
        Assert.Contains("pass one, e.g. healthcheck http://127.0.0.1:8080/healthz", output.ToString(), StringComparison.Ordinal);
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<RunningServer> StartServerAsync(HttpStatusCode status)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        app.MapGet("/healthz", () => Results.StatusCode((int)status));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new RunningServer(app, address.TrimEnd('/'));
    }

    private sealed record RunningServer(WebApplication App, string Url) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => App.DisposeAsync();
    }
}
