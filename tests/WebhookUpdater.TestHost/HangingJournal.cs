using WebhookUpdater.Updates;

namespace WebhookUpdater.TestHost;

/// <summary>
/// The journal, except that the pipeline stops for good right after it wrote one phase: the
/// crash tests kill the process there, at a phase boundary they chose.
/// </summary>
internal sealed class HangingJournal(IUpdateJournal inner, UpdatePhase hangAfter) : IUpdateJournal
{
    public async Task EnterPhaseAsync(string jobId, UpdatePhase phase, PhaseFacts facts, CancellationToken cancellationToken)
    {
        await inner.EnterPhaseAsync(jobId, phase, facts, cancellationToken);
        if (phase == hangAfter)
        {
            await Console.Out.WriteLineAsync($"fault injection: job {jobId} hangs after phase {phase.ToText()}");
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
    }

    public Task<int> StartStepAsync(string jobId, string name, CancellationToken cancellationToken) => inner.StartStepAsync(jobId, name, cancellationToken);

    public Task EndStepAsync(string jobId, int seq, StepState state, string? detail, CancellationToken cancellationToken) =>
        inner.EndStepAsync(jobId, seq, state, detail, cancellationToken);

    public Task CloseOpenStepsAsync(string jobId, string detail, CancellationToken cancellationToken) => inner.CloseOpenStepsAsync(jobId, detail, cancellationToken);

    public Task<bool> TransitionAsync(string id, JobState from, JobState to, string? reason, CancellationToken cancellationToken) =>
        inner.TransitionAsync(id, from, to, reason, cancellationToken);

    public Task FinishAsync(string id, JobState state, string outcome, string reason, string? logTail, CancellationToken cancellationToken) =>
        inner.FinishAsync(id, state, outcome, reason, logTail, cancellationToken);
}
