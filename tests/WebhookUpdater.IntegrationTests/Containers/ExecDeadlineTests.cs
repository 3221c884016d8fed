#nullable disable warnings
using System.Diagnostics;
using WebhookUpdater.Containers;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Containers;

[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed class ExecDeadlineTests(DockerFixture docker) : DockerTest
{
    protected override DockerFixture Docker => docker;

    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(10);

    private readonly EngineDoor _engine = new(new() { ["Docker:ExecTimeout"] = "00:01:00" });

    public override async ValueTask DisposeAsync()
    {
        _engine.Dispose();
        await base.DisposeAsync();
    }

    private async Task<string> RunAppAsync(string role)
    {
        var name = docker.Name($"{role}-{Guid.NewGuid():N}"[..40]);
        await docker.RunAppAsync(name, "1.0");
        return name;
    }

    private async Task<string> ProcessesAsync(string container)
    {
        var ps = await _engine.Containers.ExecAsync(container, ["ps", "-o", "pid,args"], CancellationToken.None);
        Assert.Equal(0, ps.ExitCode);
        return ps.Output;
    }

    [Fact]
    public async Task A_command_past_its_budget_is_killed_inside_the_container_with_the_processes_it_started()
    {
        var name = await RunAppAsync("exec-hang");
        var clock = Stopwatch.StartNew();

        var result = await _engine.Containers.ExecAsync(name, ["/bin/sh", "-c", "sleep 100001 & sleep 100002; echo never"], TimeSpan.FromSeconds(2), CancellationToken.None);

        Assert.Equal(ExecEnd.DeadlinePassed, result.End);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(2) + Margin);
        Assert.Contains("did not finish within 2 s", result.Note, StringComparison.Ordinal);
        Assert.Contains("killed inside the container", result.Note, StringComparison.Ordinal);
        Assert.DoesNotContain("never", result.Output, StringComparison.Ordinal);
        var left = await ProcessesAsync(name);
        Assert.DoesNotContain("sleep 10000", left, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_setting_bounds_a_command_when_the_step_gives_no_budget()
    {
        var name = await RunAppAsync("exec-setting");
        using var engine = new EngineDoor(new() { ["Docker:ExecTimeout"] = "00:00:02" });

        var result = await engine.Containers.ExecAsync(name, ["sleep", "100003"], CancellationToken.None);

        Assert.Equal(ExecEnd.DeadlinePassed, result.End);
        Assert.Contains("killed inside the container", result.Note, StringComparison.Ordinal);
        Assert.DoesNotContain("sleep 100003", await ProcessesAsync(name), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_command_that_ends_in_time_gives_its_exit_code_and_only_the_tail_of_a_large_output()
    {
        var name = await RunAppAsync("exec-tail");

        // 4 MB, then a last line, all on stdout (Docker copies stdout and stderr apart: their order is not kept): only the end is kept.
        var result = await _engine.Containers.ExecAsync(name, ["/bin/sh", "-c", "yes 0123456789 | head -c 4000000; echo the-end; exit 3"], TimeSpan.FromSeconds(30), CancellationToken.None);

        Assert.Equal(ExecEnd.Exited, result.End);
        Assert.Equal(3, result.ExitCode);
        Assert.InRange(result.Output.Length, 100, 4000);
        Assert.EndsWith("the-end\n", result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("webhook-updater-pid", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task In_an_image_without_a_shell_the_command_runs_as_it_is_and_the_result_says_it_could_not_be_killed()
    {
        var name = await RunAppAsync("exec-noshell");
        // The app image's shell is a busybox link: without it, nothing can wrap or kill the command.
        Assert.Equal(0, (await _engine.Containers.ExecAsync(name, ["rm", "/bin/sh"], CancellationToken.None)).ExitCode);

        var quick = await _engine.Containers.ExecAsync(name, ["cat", "/www/version"], TimeSpan.FromSeconds(10), CancellationToken.None);
        var hung = await _engine.Containers.ExecAsync(name, ["sleep", "100004"], TimeSpan.FromSeconds(2), CancellationToken.None);

        Assert.Equal(new ExecResult(0, "1.0"), quick);
        Assert.Equal(ExecEnd.DeadlinePassed, hung.End);
        Assert.Contains("no /bin/sh", hung.Note, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_streamed_command_that_stops_writing_is_killed_at_the_stall_timeout()
    {
        var name = await RunAppAsync("exec-stall");
        using var engine = new EngineDoor(new() { ["Docker:StallTimeout"] = "00:00:02" });
        var clock = Stopwatch.StartNew();

        await using var output = await engine.Containers.ExecReadAsync(name, ["/bin/sh", "-c", "echo first; sleep 100005"], [], CancellationToken.None);
        var read = new MemoryStream();
        var error = await Assert.ThrowsAsync<StepDeadlineException>(() => output.Stdout.CopyToAsync(read));

        Assert.Equal("first\n", System.Text.Encoding.UTF8.GetString(read.ToArray()));
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(2) + Margin);
        Assert.Contains("no output for 2 s", error.Message, StringComparison.Ordinal);
        Assert.Contains("killed inside the container", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("sleep 100005", await ProcessesAsync(name), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_streamed_command_left_unread_is_killed_when_its_output_is_dropped()
    {
        var name = await RunAppAsync("exec-drop");

        await using (var output = await _engine.Containers.ExecReadAsync(name, ["sleep", "100006"], [], CancellationToken.None))
        {
            Assert.NotNull(output.Stdout);
        }

        Assert.DoesNotContain("sleep 100006", await ProcessesAsync(name), StringComparison.Ordinal);
    }
}
