namespace WebhookUpdater.Pages;

/// <summary>What the shared layout needs from a page: its heading, whether it reloads itself, how wide it is.</summary>
public sealed record PageLayout(string Title, int? RefreshSeconds = null, bool Wide = false);

/// <summary>A page that only says what went wrong; with <see cref="RetryAfterSeconds"/> it is a 429 that says when to come back.</summary>
public sealed record PageProblem(string Title, string Detail, int? RetryAfterSeconds = null);
