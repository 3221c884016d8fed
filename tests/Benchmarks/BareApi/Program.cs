// The bare endpoint that scripts/bench/webhook.sh compares the service with: it reads the
// whole body, as the service does, and answers 202 with a small JSON of the same shape, but
// does no auth, no validation, no Docker call and no SQLite write.
var builder = WebApplication.CreateBuilder(args);
var app = builder.Build();

long received = 0;

app.MapPost("/api/diun", async (HttpRequest request, CancellationToken cancellationToken) =>
{
    using var body = new MemoryStream();
    await request.Body.CopyToAsync(body, cancellationToken);
    var eventId = Interlocked.Increment(ref received);
    return TypedResults.Accepted((string?)null, new BareAccepted(eventId, false, [], body.Length));
});

app.Run();

internal sealed record BareAccepted(long EventId, bool Deferred, IReadOnlyList<string> Jobs, long Bytes);
