using WebhookUpdater.Containers;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using WebhookUpdater.Certificates;

namespace WebhookUpdater.Tests.Certificates;

/// <summary>What a run decides from the certificates before and after certbot, with Docker in memory.</summary>
public sealed class CertificateRenewalDecisionTests
{
    private readonly FakeCertificateStack _stack = new();
    private readonly RecordingNotifier _notifier = new();
    private readonly CertificatesOptions _options = new();

    private CertificateRenewal Renewal(TimeProvider? time = null) =>
        new(_stack, _stack, _notifier, new StaticOptions(_options), time ?? TimeProvider.System, NullLogger<CertificateRenewal>.Instance);

    private async Task<RenewalReport> RunAsync(CertificateRenewal? renewal = null) =>
        (await (renewal ?? Renewal()).TryRunAsync(RenewalTriggers.Api, TestContext.Current.CancellationToken))!;

    [Fact]
    public async Task Only_the_certificate_whose_fingerprint_changed_counts_as_renewed()
    {
        _stack.Issue("git.example.com", TimeSpan.FromDays(20), DateTimeOffset.UtcNow);
        _stack.Issue("other.example.com", TimeSpan.FromDays(80), DateTimeOffset.UtcNow);
        var oldSerial = _stack.CurrentSerial("git.example.com");
        _stack.Certbot = () => (["git.example.com"], 0);

        var report = await RunAsync();

        Assert.Equal(RenewalOutcomes.Renewed, report.Outcome);
        var renewed = report.Certificates.Single(c => c.Name == "git.example.com");
        Assert.Equal(CertificateStatuses.Renewed, renewed.Status);
        Assert.Equal(oldSerial, renewed.OldSerial);
        Assert.Equal(_stack.CurrentSerial("git.example.com"), renewed.NewSerial);
        Assert.True(renewed.NewExpiry > renewed.OldExpiry);
        Assert.Equal(["git.example.com", "www.git.example.com"], renewed.Domains);
        Assert.Equal(CertificateStatuses.NotDue, report.Certificates.Single(c => c.Name == "other.example.com").Status);
        Assert.Equal(NginxActions.Reloaded, report.Nginx.Action);
        Assert.Equal(["run certbot: certbot renew --non-interactive --no-random-sleep-on-renew", "exec nginx: nginx -t", "exec nginx: nginx -s reload"], _stack.Calls);
        Assert.Empty(_notifier.Sent);
    }

    [Fact]
    public async Task An_invalid_nginx_configuration_is_never_reloaded_and_is_reported()
    {
        _stack.Issue("git.example.com", TimeSpan.FromDays(20), DateTimeOffset.UtcNow);
        _stack.Certbot = () => (["git.example.com"], 0);
        _stack.NginxTestExitCode = 1;

        var report = await RunAsync();

        Assert.Equal(NginxActions.ConfigInvalid, report.Nginx.Action);
        Assert.DoesNotContain(_stack.Calls, call => call.Contains("reload", StringComparison.Ordinal) || call.StartsWith("stop", StringComparison.Ordinal));
        Assert.True(report.ActionRequired);
        var notice = Assert.IsType<CertificateNotification>(Assert.Single(_notifier.Sent));
        Assert.Equal(CertificateNotification.NginxNotReloaded, notice.Kind);
        Assert.Contains("unknown directive", notice.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failed_reload_restarts_nginx()
    {
        _stack.Issue("git.example.com", TimeSpan.FromDays(20), DateTimeOffset.UtcNow);
        _stack.Certbot = () => (["git.example.com"], 0);
        _stack.NginxReloadExitCode = 1;

        var report = await RunAsync();

        Assert.Equal(NginxActions.Restarted, report.Nginx.Action);
        Assert.Equal(["exec nginx: nginx -s reload", "stop nginx", "start nginx"], _stack.Calls.Skip(2));
    }

    [Fact]
    public async Task Certbot_failing_after_renewing_one_lineage_still_reloads_nginx_and_reports_the_failure()
    {
        _stack.Issue("git.example.com", TimeSpan.FromDays(20), DateTimeOffset.UtcNow);
        _stack.Issue("broken.example.com", TimeSpan.FromDays(20), DateTimeOffset.UtcNow);
        _stack.Certbot = () => (["git.example.com"], 1);

        var report = await RunAsync();

        Assert.Equal(RenewalOutcomes.CertbotFailed, report.Outcome);
        Assert.Equal(CertificateStatuses.Renewed, report.Certificates.Single(c => c.Name == "git.example.com").Status);
        Assert.Equal(CertificateStatuses.NotRenewed, report.Certificates.Single(c => c.Name == "broken.example.com").Status);
        Assert.Equal(NginxActions.Reloaded, report.Nginx.Action);
        Assert.Equal(CertificateNotification.RenewalFailed, Assert.Single(_notifier.Sent).Kind);
    }

    [Fact]
    public async Task Nothing_renewed_leaves_nginx_alone_even_when_it_is_stopped()
    {
        _stack.Issue("git.example.com", TimeSpan.FromDays(80), DateTimeOffset.UtcNow);
        _stack.NginxRunning = false;

        var report = await RunAsync();

        Assert.Equal(RenewalOutcomes.NothingDue, report.Outcome);
        Assert.Equal(NginxActions.NotTouched, report.Nginx.Action);
        Assert.Single(_stack.Calls);
        Assert.False(report.ActionRequired);
    }

    [Fact]
    public async Task A_certificate_inside_the_warning_window_sends_one_warning_naming_it()
    {
        _stack.Issue("git.example.com", TimeSpan.FromDays(10), DateTimeOffset.UtcNow);
        _stack.Issue("later.example.com", TimeSpan.FromDays(60), DateTimeOffset.UtcNow);

        var report = await RunAsync();

        var soon = report.Certificates.Single(c => c.Name == "git.example.com");
        Assert.True(soon.ExpiresSoon);
        Assert.Equal(9, soon.DaysLeft);
        Assert.False(report.Certificates.Single(c => c.Name == "later.example.com").ExpiresSoon);
        var notice = Assert.IsType<CertificateNotification>(Assert.Single(_notifier.Sent));
        Assert.Equal(CertificateNotification.Expiring, notice.Kind);
        Assert.Equal("Certificate git.example.com expires in 9 days", notice.Subject);
    }

    [Fact]
    public async Task Two_labelled_certbot_containers_are_refused_with_the_setting_to_use()
    {
        var renewal = new CertificateRenewal(new TwoCertbots(_stack), _stack, _notifier, new StaticOptions(_options), TimeProvider.System, NullLogger<CertificateRenewal>.Instance);

        var report = await RunAsync(renewal);

        Assert.Equal(RenewalOutcomes.SetupFailed, report.Outcome);
        Assert.Contains("2 containers carry the label webhook-updater.role=certbot", report.Problem, StringComparison.Ordinal);
        Assert.Contains("Certificates__CertbotContainer", report.Problem, StringComparison.Ordinal);
        Assert.Equal(CertificateNotification.RenewalFailed, Assert.Single(_notifier.Sent).Kind);
    }

    [Fact]
    public async Task Docker_not_answering_ends_the_run_with_a_notice_instead_of_an_exception()
    {
        var renewal = new CertificateRenewal(new TwoCertbots(_stack, new HttpRequestException("Connection refused")), _stack, _notifier, new StaticOptions(_options), TimeProvider.System, NullLogger<CertificateRenewal>.Instance);

        var report = await RunAsync(renewal);

        Assert.Equal(RenewalOutcomes.SetupFailed, report.Outcome);
        Assert.Contains("Docker could not be asked", report.Problem, StringComparison.Ordinal);
        Assert.Contains("Connection refused", Assert.Single(_notifier.Sent).Summary, StringComparison.Ordinal);
        Assert.Null(renewal.Running);
    }

    [Fact]
    public async Task A_second_run_while_one_is_running_is_refused_at_once()
    {
        _stack.Issue("git.example.com", TimeSpan.FromDays(80), DateTimeOffset.UtcNow);
        _stack.HoldCertbot = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var time = new FakeTimeProvider(new DateTimeOffset(2025, 1, 5, 3, 30, 0, TimeSpan.Zero));
        var renewal = Renewal(time);

        var first = renewal.TryRunAsync(RenewalTriggers.Schedule, TestContext.Current.CancellationToken);
        var second = await renewal.TryRunAsync(RenewalTriggers.Api, TestContext.Current.CancellationToken);

        Assert.Null(second);
        Assert.Equal(new RunningRenewal(RenewalTriggers.Schedule, time.GetUtcNow()), renewal.Running);
        _stack.HoldCertbot.SetResult();
        Assert.NotNull(await first);
        Assert.Null(renewal.Running);
    }

    [Theory]
    [InlineData("/etc/letsencrypt/live/a/cert.pem", "../../archive/a/cert3.pem", "/etc/letsencrypt/archive/a/cert3.pem")]
    [InlineData("/etc/letsencrypt/live/a/cert.pem", "/srv/certs/a.pem", "/srv/certs/a.pem")]
    [InlineData("/etc/letsencrypt/live/a/cert.pem", "./cert-copy.pem", "/etc/letsencrypt/live/a/cert-copy.pem")]
    public void Symlinks_resolve_relative_to_the_links_folder(string link, string target, string resolved) =>
        Assert.Equal(resolved, CertificateInventory.ResolveLink(link, target));

    private sealed class StaticOptions(CertificatesOptions value) : IOptionsMonitor<CertificatesOptions>
    {
        public CertificatesOptions CurrentValue => value;

        public CertificatesOptions Get(string? name) => value;

        public IDisposable? OnChange(Action<CertificatesOptions, string?> listener) => null;
    }

    /// <summary>The stack with two containers labelled as certbot (or an engine that does not answer the label look-up).</summary>
    private sealed class TwoCertbots(FakeCertificateStack inner, Exception? failure = null) : IContainerLookup
    {
        public Task<IReadOnlyList<ContainerInfo>> ListByLabelAsync(string key, string? value, CancellationToken cancellationToken) =>
            failure is null
                ? Task.FromResult<IReadOnlyList<ContainerInfo>>([Certbot("certbot-1"), Certbot("certbot-2")])
                : Task.FromException<IReadOnlyList<ContainerInfo>>(failure);

        private static ContainerInfo Certbot(string name) =>
            new(name, name, "certbot/certbot", "sha256:c", "exited", false, false, 0, 0, null, new Dictionary<string, string> { ["webhook-updater.role"] = "certbot" }, [], []);

        public Task<ContainerInfo?> FindAsync(string nameOrId, CancellationToken cancellationToken) => inner.FindAsync(nameOrId, cancellationToken);

        public Task<IReadOnlyList<ContainerInfo>> FindByRepositoryAsync(ImageReference repository, CancellationToken cancellationToken) => inner.FindByRepositoryAsync(repository, cancellationToken);

        public Task<IReadOnlyList<ContainerInfo>> ListAsync(CancellationToken cancellationToken) => inner.ListAsync(cancellationToken);

        public Task<ContainerImage?> ImageAsync(string reference, CancellationToken cancellationToken) => inner.ImageAsync(reference, cancellationToken);

        public Task<IReadOnlyList<string>?> EnvironmentAsync(string nameOrId, CancellationToken cancellationToken) => inner.EnvironmentAsync(nameOrId, cancellationToken);

        public Task<string> LogTailAsync(string nameOrId, int lines, CancellationToken cancellationToken) => inner.LogTailAsync(nameOrId, lines, cancellationToken);

        public Task<string> PingAsync(CancellationToken cancellationToken) => inner.PingAsync(cancellationToken);
    }
}
