using System.Text.Json;
using WebhookUpdater.Updates;

namespace WebhookUpdater.Tests.Updates;

public sealed class JobStateTests
{
    // The journal's column text and the APIs' words: changing one would strand stored jobs.
    public static TheoryData<JobState, string> Words => new()
    {
        { JobState.Queued, "queued" },
        { JobState.AwaitingApproval, "awaiting_approval" },
        { JobState.Running, "running" },
        { JobState.Succeeded, "succeeded" },
        { JobState.Failed, "failed" },
        { JobState.RolledBack, "rolled_back" },
        { JobState.Rejected, "rejected" },
        { JobState.Superseded, "superseded" },
        { JobState.Ignored, "ignored" },
        { JobState.Cancelled, "cancelled" },
    };

    [Theory]
    [MemberData(nameof(Words))]
    public void A_job_state_is_stored_and_answered_by_its_word(JobState state, string word)
    {
        Assert.Equal(word, state.Name());
        Assert.Equal(state, JobStates.Parse(word));
        Assert.Equal($"\"{word}\"", JsonSerializer.Serialize(state));
        Assert.Equal(state, JsonSerializer.Deserialize<JobState>($"\"{word}\""));
    }

    [Fact]
    public void Every_job_state_has_a_word()
    {
        Assert.Equal(Enum.GetValues<JobState>().Length, Words.Count);
    }

    [Fact]
    public void A_state_is_final_pending_or_active_but_never_both_final_and_active()
    {
        Assert.All(Enum.GetValues<JobState>(), state => Assert.NotEqual(JobStates.Final.Contains(state), JobStates.Active.Contains(state)));
        Assert.Subset(JobStates.Active.ToHashSet(), JobStates.Pending.ToHashSet());
        Assert.False(JobState.Running.IsFinal());
        Assert.True(JobState.Superseded.IsFinal());
    }

    [Fact]
    public void A_word_of_another_version_is_refused_with_its_name()
    {
        Assert.False(JobStates.TryParse("AwaitingApproval", out _));
        Assert.Contains("paused", Assert.Throws<FormatException>(() => JobStates.Parse("paused")).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(StepState.Running, "running")]
    [InlineData(StepState.Succeeded, "succeeded")]
    [InlineData(StepState.Failed, "failed")]
    [InlineData(StepState.Interrupted, "interrupted")]
    public void A_step_state_is_stored_and_answered_by_its_word(StepState state, string word)
    {
        Assert.Equal(word, state.Name());
        Assert.Equal(state, StepStates.Parse(word));
        Assert.Equal($"\"{word}\"", JsonSerializer.Serialize(state));
    }
}
