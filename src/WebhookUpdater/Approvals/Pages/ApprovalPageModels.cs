using WebhookUpdater.Updates;

namespace WebhookUpdater.Approvals.Pages;

public sealed record ConfirmModel(JobView Job, ApprovalRecord Approval, DateTimeOffset Now);

public sealed record RefusedModel(LinkState State, string? ProgressUrl);

public sealed record ProgressModel(JobView Job, bool Final);

/// <summary>The facts of a job every approval page shows, and the page's own extra rows.</summary>
public sealed record FactsModel(JobView Job, params IReadOnlyList<(string Label, string Value)> Extra);
