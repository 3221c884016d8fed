using System.Net.Sockets;
using System.Text;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Security;

/// <summary>
/// Against the real service and its Kestrel, over a raw socket: a request whose body never ends
/// gets its answer anyway, which it can only get if nothing waited for that body.
/// </summary>
[Collection(DockerCollection.Name)]
public sealed class UnreadBodyTests(DockerFixture docker) : DockerTest
{
    /// <summary>Far longer than an answer takes; a server that waits for the body never answers within it.</summary>
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    /// <summary>Under the smallest body limit, so that only a read of the body, not its size, could hold the answer back.</summary>
    private const long AnnouncedWithinEveryLimit = 3000;

    protected override DockerFixture Docker => docker;

    private static readonly (string Method, string Path, string Status)[] ProtectedEndpoints =
    [
        ("POST", "/api/diun", "401"),
        ("POST", "/api/jobs/01a0/approve", "401"),
        ("POST", "/api/jobs/01a0/reject", "401"),
        ("GET", "/api/jobs", "401"),
        ("POST", "/api/backups", "401"),
        ("POST", "/api/backups/set-1/restore", "401"),
        ("GET", "/api/backups/restores", "401"),
        ("POST", "/api/certificates/renew", "401"),
        ("GET", "/api/notifications/outbox", "401"),
        ("POST", "/logout", "401"),
        ("POST", "/status/jobs/01a0/approve", "401"),
        ("POST", "/approvals/not-a-token", "400"),
    ];

    [Fact]
    public async Task An_unauthenticated_request_with_a_body_that_never_ends_is_refused_at_every_protected_endpoint_without_reading_it()
    {
        await using var service = await ServiceProcess.StartAsync(Data, new() { ["Updates:RunWorker"] = "false" });

        var answers = new List<string>();
        foreach (var (method, path, _) in ProtectedEndpoints)
        {
            answers.Add($"{method} {path} -> {StatusLine(await SendEndlessBodyAsync(service, method, path, path.StartsWith("/api/", StringComparison.Ordinal) ? "application/json" : "application/x-www-form-urlencoded", "", AnnouncedWithinEveryLimit))}");
        }

        Assert.Equal(ProtectedEndpoints.Select(e => $"{e.Method} {e.Path} -> HTTP/1.1 {e.Status}"), answers);
    }

    [Fact]
    public async Task An_authenticated_request_announcing_a_body_over_its_limit_gets_413_before_the_body_is_sent()
    {
        await using var service = await ServiceProcess.StartAsync(Data, new() { ["Updates:RunWorker"] = "false" });

        var webhook = await SendEndlessBodyAsync(service, "POST", "/api/diun", "application/json", $"Authorization: Bearer {ServiceHost.WebhookSecret}\r\n", 100L * 1024 * 1024);
        var backups = await SendEndlessBodyAsync(service, "POST", "/api/backups", "application/json", $"Authorization: Bearer {ServiceHost.AdminToken}\r\n", 100L * 1024 * 1024);

        Assert.Equal("HTTP/1.1 413", StatusLine(webhook));
        Assert.Equal("HTTP/1.1 413", StatusLine(backups));
    }

    private static string StatusLine(string answer) => answer.Length >= 12 ? answer[..12] : answer;

    /// <summary>Sends the headers and the first KiB of a body announced longer, then waits for the status line.</summary>
    private static async Task<string> SendEndlessBodyAsync(ServiceProcess service, string method, string path, string contentType, string headers, long contentLength)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(service.Http.BaseAddress!.Host, service.Http.BaseAddress.Port, TestContext.Current.CancellationToken);
        var stream = client.GetStream();
        var head = $"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {contentType}\r\n{headers}Content-Length: {contentLength}\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head), TestContext.Current.CancellationToken);
        await stream.WriteAsync(Encoding.ASCII.GetBytes(new string('a', 1024)), TestContext.Current.CancellationToken);

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        deadline.CancelAfter(Deadline);
        var received = new StringBuilder();
        var buffer = new byte[4096];
        try
        {
            while (!received.ToString().Contains("\r\n", StringComparison.Ordinal))
            {
                var count = await stream.ReadAsync(buffer, deadline.Token);
                if (count == 0)
                {
                    break;
                }

                received.Append(Encoding.ASCII.GetString(buffer, 0, count));
            }
        }
        catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
        {
            Assert.Fail($"{method} {path}: no answer within {Deadline.TotalSeconds} s while the body was still coming: the server waited for it.");
        }

        return received.ToString();
    }
}
