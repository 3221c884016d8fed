using System.IO.Pipelines;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using WebhookUpdater.Containers;

namespace WebhookUpdater.Tests.Containers;

public sealed class DeadlineTests
{
    private static readonly TimeSpan Idle = TimeSpan.FromSeconds(10);

    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);

    [Fact]
    public void A_watchdog_expires_when_nothing_moved_for_the_idle_time()
    {
        using var watchdog = new ProgressWatchdog(Idle, Timeout.InfiniteTimeSpan, _time, CancellationToken.None);

        _time.Advance(Idle - TimeSpan.FromSeconds(1));
        Assert.False(watchdog.Token.IsCancellationRequested);
        _time.Advance(TimeSpan.FromSeconds(1));

        Assert.True(watchdog.Token.IsCancellationRequested);
        Assert.Equal(WatchdogEnd.Idle, watchdog.Expired);
    }

    [Fact]
    public void Progress_starts_the_idle_wait_again_so_a_long_transfer_that_moves_is_never_cut_off()
    {
        using var watchdog = new ProgressWatchdog(Idle, Timeout.InfiniteTimeSpan, _time, CancellationToken.None);

        for (var i = 0; i < 1000; i++)
        {
            _time.Advance(Idle - TimeSpan.FromSeconds(1));
            watchdog.Progress();
        }

        Assert.False(watchdog.Token.IsCancellationRequested);
        Assert.Equal(WatchdogEnd.None, watchdog.Expired);
    }

    [Fact]
    public void The_deadline_passes_whatever_the_progress()
    {
        using var watchdog = new ProgressWatchdog(Idle, TimeSpan.FromSeconds(30), _time, CancellationToken.None);

        for (var i = 0; i < 6; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(5));
            watchdog.Progress();
        }

        Assert.True(watchdog.Token.IsCancellationRequested);
        Assert.Equal(WatchdogEnd.Deadline, watchdog.Expired);
    }

    [Fact]
    public void Without_the_idle_wait_only_the_deadline_remains()
    {
        using var watchdog = new ProgressWatchdog(Idle, TimeSpan.FromSeconds(60), _time, CancellationToken.None);

        watchdog.StopIdleWait();
        _time.Advance(TimeSpan.FromSeconds(59));
        Assert.False(watchdog.Token.IsCancellationRequested);
        _time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(WatchdogEnd.Deadline, watchdog.Expired);
    }

    [Fact]
    public void The_callers_cancellation_is_not_taken_for_an_expiry()
    {
        using var caller = new CancellationTokenSource();
        using var watchdog = new ProgressWatchdog(Idle, Timeout.InfiniteTimeSpan, _time, caller.Token);

        caller.Cancel();

        Assert.True(watchdog.Token.IsCancellationRequested);
        Assert.Equal(WatchdogEnd.None, watchdog.Expired);
    }

    [Fact]
    public async Task A_read_that_stalls_ends_with_a_deadline_exception_that_says_what_stalled()
    {
        var pipe = new Pipe();
        using var watchdog = new ProgressWatchdog(Idle, Timeout.InfiniteTimeSpan, _time, CancellationToken.None);
        await using var stream = new WatchedStream(pipe.Reader.AsStream(), watchdog, "reading gitea:/data", Idle);
        await pipe.Writer.WriteAsync("abc"u8.ToArray(), TestContext.Current.CancellationToken);
        var buffer = new byte[16];
        Assert.Equal(3, await stream.ReadAsync(buffer, TestContext.Current.CancellationToken));

        var stalled = stream.ReadAsync(buffer, TestContext.Current.CancellationToken).AsTask();
        _time.Advance(Idle);

        var error = await Assert.ThrowsAsync<StepDeadlineException>(() => stalled);
        Assert.Equal("reading gitea:/data stopped: no bytes moved for 10 s (Docker:StallTimeout)", error.Message);
    }

    [Fact]
    public void The_tail_keeps_only_the_last_characters_of_a_large_output()
    {
        var tail = new OutputTail(100);
        var chunk = Encoding.UTF8.GetBytes(new string('x', 999) + "\n");
        for (var i = 0; i < 10_000; i++)
        {
            tail.Append(chunk);
        }

        tail.Append("the end"u8);

        Assert.Equal(new string('x', 92) + "\nthe end", tail.ToString());
    }

    [Fact]
    public void A_character_split_across_two_reads_stays_whole()
    {
        var tail = new OutputTail(100);
        var bytes = Encoding.UTF8.GetBytes("café");

        tail.Append(bytes.AsSpan(0, 4));
        tail.Append(bytes.AsSpan(4));

        Assert.Equal("café", tail.ToString());
    }

    [Theory]
    [InlineData("webhook-updater-pid 42\n", 42, 0)]
    [InlineData("webhook-updater-pid 7\nerror: ", 7, 7)]
    public void The_wrappers_first_line_gives_the_pid_and_what_follows_is_the_commands_own(string head, int pid, int rest)
    {
        Assert.True(MarkerParser.TryParse(Encoding.ASCII.GetBytes(head), out var parsed, out var after));
        Assert.Equal(pid, parsed);
        Assert.Equal(rest, after);
    }

    [Theory]
    [InlineData("webhook-updater-pid 42", false)]
    [InlineData("webhook-upd", false)]
    [InlineData("OCI runtime exec failed", true)]
    [InlineData("webhook-updater-pid x\n", true)]
    public void Anything_but_the_marker_line_is_not_taken_for_a_pid(string head, bool settled)
    {
        Assert.False(MarkerParser.TryParse(Encoding.ASCII.GetBytes(head), out _, out _));
        Assert.Equal(settled, MarkerParser.CannotBeMarker(Encoding.ASCII.GetBytes(head)));
    }

    [Theory]
    [InlineData(20, 300, 20)]
    [InlineData(600, 300, 300)]
    [InlineData(-1, 300, 300)]
    [InlineData(0, 300, 1)]
    public void A_command_gets_the_smaller_of_its_steps_budget_and_the_setting_and_never_less_than_a_second(int budgetSeconds, int settingSeconds, int expectedSeconds)
    {
        var budget = budgetSeconds < 0 ? Timeout.InfiniteTimeSpan : TimeSpan.FromSeconds(budgetSeconds);

        Assert.Equal(TimeSpan.FromSeconds(expectedSeconds), ExecLimit.Of(budget, TimeSpan.FromSeconds(settingSeconds)));
    }

    [Fact]
    public void A_result_past_its_deadline_is_no_success_whatever_its_exit_code()
    {
        var stopped = new ExecResult(0, "", ExecEnd.DeadlinePassed, "did not finish within 20 s; killed inside the container (pid 7 and its children)");

        Assert.False(stopped.Succeeded);
        Assert.Equal(stopped.Note, stopped.Describe());
        Assert.Equal("exited with 3", new ExecResult(3, "").Describe());
        Assert.True(new ExecResult(0, "").Succeeded);
    }
}
