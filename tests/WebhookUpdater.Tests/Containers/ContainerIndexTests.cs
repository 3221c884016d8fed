using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using WebhookUpdater.Containers;
using WebhookUpdater.Tests.Support;

namespace WebhookUpdater.Tests.Containers;

public sealed class ContainerIndexTests : IAsyncLifetime
{
    private static readonly ImageReference Nginx = ImageReference.Parse("nginx");

    private readonly FakeContainerRuntime _engine = new();
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly ContainerIndex _index;

    public ContainerIndexTests()
    {
        _index = new ContainerIndex(new Lazy<IContainerRuntime>(() => _engine), Options.Create(new DockerOptions()), _time, NullLogger<ContainerIndex>.Instance);
    }

    public async ValueTask InitializeAsync()
    {
        _engine.Add("nginx", "nginx:1.27", "automatic");
        _engine.Add("gitea", "gitea/gitea:1.22", "manual");
        Assert.False(_index.IsLive);
        _index.EnsureStarted();
        await EventuallyAsync(() => _index.IsLive);
    }

    public async ValueTask DisposeAsync()
    {
        await _index.StopAsync(CancellationToken.None);
        _index.Dispose();
    }

    private static async Task EventuallyAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not come true within 10 s");
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>The engine stops answering and its event stream breaks; returns once the index knows.</summary>
    private async Task LoseTheEngineAsync()
    {
        var outage = new HttpRequestException("connection refused");
        _engine.Failure = outage;
        _engine.BreakStreams(outage);
        await EventuallyAsync(() => !_index.IsLive);
    }

    [Fact]
    public async Task Once_live_look_ups_are_answered_without_asking_the_engine()
    {
        var calls = _engine.Calls;

        var byName = await _index.FindAsync("nginx", TestContext.Current.CancellationToken);
        var byRepository = await _index.FindByRepositoryAsync(ImageReference.Parse("gitea/gitea:1.23"), TestContext.Current.CancellationToken);
        var byPrefix = await _index.FindAsync(byName!.Id[..12], TestContext.Current.CancellationToken);

        Assert.Equal("automatic", byName.Label("update.policy"));
        Assert.Equal("gitea", Assert.Single(byRepository).Name);
        Assert.Equal(byName.Id, byPrefix?.Id);
        Assert.Equal(calls, _engine.Calls);
    }

    [Fact]
    public async Task Containers_created_and_removed_later_are_followed()
    {
        _engine.Add("nginx-2", "nginx:1.27", "manual");
        _engine.Remove("nginx");
        // The engine's events arrive asynchronously (as Docker's do): wait until both are applied.
        await EventuallyAsync(() => _index.Known("nginx") is null && _index.Known("nginx-2") is not null);

        var calls = _engine.Calls;
        var found = await _index.FindByRepositoryAsync(Nginx, TestContext.Current.CancellationToken);

        Assert.Equal("nginx-2", Assert.Single(found).Name);
        Assert.Equal(2, _index.Count);
        Assert.Equal(calls, _engine.Calls);
    }

    [Fact]
    public async Task A_look_up_waits_for_a_change_already_received_but_not_yet_applied()
    {
        _engine.InspectGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = _engine.Calls;
        _engine.Add("nginx-2", "nginx:1.27", "automatic");
        await EventuallyAsync(() => _engine.Calls > calls); // the index is inspecting the new container

        var lookUp = _index.FindByRepositoryAsync(Nginx, TestContext.Current.CancellationToken);
        await Task.Delay(100, TestContext.Current.CancellationToken);
        Assert.False(lookUp.IsCompleted);
        _engine.InspectGate.SetResult();

        Assert.Equal(["nginx", "nginx-2"], (await lookUp).Select(c => c.Name).Order());
    }

    [Fact]
    public async Task Without_the_event_stream_look_ups_go_to_the_engine_and_meet_its_outage()
    {
        await LoseTheEngineAsync();

        await Assert.ThrowsAsync<HttpRequestException>(() => _index.FindAsync("nginx", TestContext.Current.CancellationToken));
        await Assert.ThrowsAsync<HttpRequestException>(() => _index.FindByRepositoryAsync(Nginx, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task The_index_reconnects_and_reloads_when_the_engine_is_back()
    {
        await LoseTheEngineAsync();
        _engine.Failure = null;
        _engine.Add("nginx-2", "nginx:1.27", "automatic"); // while the index was not connected

        await EventuallyAsync(() =>
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            return _index.IsLive;
        });

        var calls = _engine.Calls;
        Assert.Equal(2, (await _index.FindByRepositoryAsync(Nginx, TestContext.Current.CancellationToken)).Count);
        Assert.Equal(calls, _engine.Calls);
    }

    [Fact]
    public async Task An_unknown_name_is_asked_of_the_engine()
    {
        var calls = _engine.Calls;

        Assert.Null(await _index.FindAsync("postgres", TestContext.Current.CancellationToken));
        Assert.Equal(calls + 1, _engine.Calls);
    }

    [Fact]
    public async Task Switched_off_the_index_never_answers()
    {
        using var index = new ContainerIndex(new Lazy<IContainerRuntime>(() => _engine), Options.Create(new DockerOptions { IndexContainers = false }), _time, NullLogger<ContainerIndex>.Instance);
        index.EnsureStarted();
        var calls = _engine.Calls;

        await index.FindAsync("nginx", TestContext.Current.CancellationToken);

        Assert.False(index.IsLive);
        Assert.Equal(calls + 1, _engine.Calls);
        await index.StopAsync(CancellationToken.None);
    }
}
