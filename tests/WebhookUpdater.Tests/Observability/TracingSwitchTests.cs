using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;
using WebhookUpdater.Tests.Support;

namespace WebhookUpdater.Tests.Observability;

/// <summary>Traces are recorded only when they can go somewhere (an OTLP endpoint) or when asked for.</summary>
public sealed class TracingSwitchTests
{
    [Fact]
    public async Task Without_an_otlp_endpoint_no_traces_are_recorded()
    {
        await using var app = new TestApp();
        _ = app.CreateClient();

        Assert.Null(app.Services.GetService<TracerProvider>());
    }

    [Theory]
    [InlineData("Observability:TracingEnabled", "true")]
    [InlineData("Observability:OtlpEndpoint", "http://127.0.0.1:4317")]
    public async Task Traces_are_recorded_when_asked_for_or_when_an_otlp_endpoint_is_set(string key, string value)
    {
        await using var app = new TestApp(new Dictionary<string, string?> { [key] = value });
        _ = app.CreateClient();

        Assert.NotNull(app.Services.GetService<TracerProvider>());
    }

    [Fact]
    public async Task Tracing_can_be_switched_off_even_with_an_otlp_endpoint()
    {
        await using var app = new TestApp(new Dictionary<string, string?>
        {
            ["Observability:OtlpEndpoint"] = "http://127.0.0.1:4317",
            ["Observability:TracingEnabled"] = "false",
        });
        _ = app.CreateClient();

        Assert.Null(app.Services.GetService<TracerProvider>());
    }
}
