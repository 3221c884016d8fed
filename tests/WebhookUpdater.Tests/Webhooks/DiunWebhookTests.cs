using Microsoft.Extensions.DependencyInjection;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using WebhookUpdater.Tests.Support;

namespace WebhookUpdater.Tests.Webhooks;

public sealed class DiunWebhookTests : IAsyncLifetime
{
    private readonly TestApp _app = new();

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public ValueTask DisposeAsync() => _app.DisposeAsync();

    private async Task<HttpResponseMessage> PostAsync(string body, HttpClient? client = null) =>
        await (client ?? _app.Webhook()).PostAsync("/api/diun", Payloads.Raw(body), TestContext.Current.CancellationToken);

    private static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.JsonAsync();
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        return problem;
    }

    [Fact]
    public async Task A_request_without_the_secret_is_rejected_and_nothing_is_recorded()
    {
        _app.Containers.Add("nginx", "nginx:1.27", "automatic");

        var response = await PostAsync(Payloads.Diun("nginx:1.27"), _app.CreateClient());

        await AssertProblemAsync(response, HttpStatusCode.Unauthorized);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal(0, await _app.CountAsync("events"));
        Assert.Equal(0, _app.Containers.Calls);
    }

    [Theory]
    [InlineData("Bearer wrong-secret-wrong-secret")]
    [InlineData("Bearer test-webhook-secret-012345678")]
    [InlineData("Basic dGVzdC13ZWJob29rLXNlY3JldC0wMTIzNDU2Nzg5")]
    [InlineData("test-webhook-secret-0123456789")]
    public async Task A_wrong_secret_is_rejected(string authorization)
    {
        var client = _app.CreateClient();
        client.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", authorization);

        await AssertProblemAsync(await PostAsync(Payloads.Diun("nginx"), client), HttpStatusCode.Unauthorized);
        Assert.Equal(0, await _app.CountAsync("events"));
    }

    [Fact]
    public async Task The_body_is_read_whatever_the_content_type()
    {
        _app.Containers.Add("nginx", "nginx:1.27", "automatic");
        var content = Payloads.Raw(Payloads.Diun("nginx:1.27"));
        content.Headers.ContentType = new MediaTypeHeaderValue("text/plain");

        var response = await _app.Webhook().PostAsync("/api/diun", content, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
    }

    [Fact]
    public async Task A_body_over_64_KiB_gets_413()
    {
        var body = Payloads.Diun("nginx").Replace("\"myserver\"", "\"" + new string('x', 70_000) + "\"", StringComparison.Ordinal);

        var problem = await AssertProblemAsync(await PostAsync(body), HttpStatusCode.RequestEntityTooLarge);

        Assert.Contains("65536", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, await _app.CountAsync("events"));
    }

    [Fact]
    public async Task A_chunked_body_over_the_limit_gets_413_too()
    {
        var stream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(new string(' ', 70_000) + Payloads.Diun("nginx")));
        var content = new StreamContent(stream);
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/diun") { Content = content };
        request.Headers.TransferEncodingChunked = true;

        var response = await _app.Webhook().SendAsync(request, TestContext.Current.CancellationToken);

        await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
    }

    [Theory]
    [InlineData("not json at all", "body")]
    [InlineData("{\"status\": \"new\"", "body")]
    [InlineData("[1, 2]", "body")]
    [InlineData("{\"status\": 5, \"provider\": \"docker\", \"image\": \"nginx\", \"digest\": \"sha256:216a8a6e6a3f7c1f0e7c8b9a1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e\"}", "status")]
    [InlineData("{\"status\": \"new\", \"provider\": \"docker\", \"image\": [\"nginx\"], \"digest\": \"sha256:216a8a6e6a3f7c1f0e7c8b9a1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e\"}", "image")]
    [InlineData("{\"status\": \"new\", \"provider\": \"docker\", \"image\": \"nginx\", \"digest\": \"sha256:216a8a6e6a3f7c1f0e7c8b9a1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e\", \"metadata\": [1]}", "metadata")]
    [InlineData("{\"status\": \"new\", \"provider\": \"docker\", \"image\": \"nginx\", \"digest\": \"sha256:216a8a6e6a3f7c1f0e7c8b9a1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e\", \"metadata\": {\"ctn_names\": {\"a\": 1}}}", "metadata.ctn_names")]
    public async Task Malformed_or_mistyped_bodies_get_400_naming_the_field(string body, string field)
    {
        var problem = await AssertProblemAsync(await PostAsync(body), HttpStatusCode.BadRequest);

        var errors = problem.GetProperty("errors");
        Assert.True(errors.TryGetProperty(field, out var messages), $"errors should name '{field}': {errors}");
        Assert.Contains(field == "body" ? "JSON" : field, messages[0].GetString(), StringComparison.Ordinal);
        Assert.Equal(0, await _app.CountAsync("events"));
    }

    [Theory]
    [InlineData("status", "deleted", "allowed values are new, update")]
    [InlineData("status", null, "one of new, update")]
    [InlineData("provider", null, "'provider' is required")]
    [InlineData("image", "Nginx:Latest", "lowercase")]
    [InlineData("image", "nginx:", "not a valid image reference")]
    [InlineData("image", null, "required")]
    [InlineData("digest", "sha256:1234", "64 hexadecimal")]
    [InlineData("digest", "md5:216a8a6e6a3f7c1f0e7c8b9a1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e", "sha256:")]
    [InlineData("created", "yesterday", "RFC 3339")]
    public async Task Invalid_fields_get_400_with_a_message_that_says_what_to_fix(string field, string? value, string hint)
    {
        var payload = JsonSerializer.Deserialize<Dictionary<string, object?>>(Payloads.Diun("nginx"))!;
        if (value is null)
        {
            payload.Remove(field);
        }
        else
        {
            payload[field] = value;
        }

        var problem = await AssertProblemAsync(await PostAsync(JsonSerializer.Serialize(payload)), HttpStatusCode.BadRequest);

        var message = problem.GetProperty("errors").GetProperty(field)[0].GetString();
        Assert.Contains(hint, message, StringComparison.Ordinal);
        Assert.Equal(0, await _app.CountAsync("events"));
        Assert.Equal(0, _app.Containers.Calls);
    }

    [Fact]
    public async Task Each_decision_is_answered_and_recorded()
    {
        _app.Containers.Add("nginx", "nginx:1.27", "automatic");
        _app.Containers.Add("gitea", "gitea/gitea:1.22", "manual");
        _app.Containers.Add("other-gitea", "gitea/gitea:1.22");
        _app.Containers.Add("odd-gitea", "gitea/gitea:1.22", "yolo");
        _app.Containers.Add("old-gitea", "gitea/gitea:1.21", "automatic");
        _app.Containers.Add("current-gitea", "gitea/gitea:1.22", "automatic", "gitea/gitea@" + Payloads.DigestA);

        var nginx = await (await PostAsync(Payloads.Diun("docker.io/library/nginx:1.27", containerName: "nginx"))).JsonAsync();
        var gitea = await PostAsync(Payloads.Diun("docker.io/gitea/gitea:1.22"));

        Assert.Equal(HttpStatusCode.Accepted, gitea.StatusCode);
        var job = Assert.Single(nginx.GetProperty("jobs").EnumerateArray());
        Assert.Equal("nginx", job.GetProperty("container").GetString());
        Assert.Equal("automatic", job.GetProperty("policy").GetString());
        Assert.Equal("queued", job.GetProperty("decision").GetString());
        var giteaJobs = (await gitea.JsonAsync()).GetProperty("jobs").EnumerateArray()
            .ToDictionary(j => j.GetProperty("container").GetString()!, j => j.GetProperty("decision").GetString());
        Assert.Equal(
            new Dictionary<string, string?>
            {
                ["gitea"] = "awaiting_approval",
                ["other-gitea"] = "ignored_no_policy",
                ["odd-gitea"] = "ignored_unknown_policy",
                ["old-gitea"] = "ignored_tag_mismatch",
                ["current-gitea"] = "ignored_already_current",
            },
            giteaJobs);

        var stored = await _app.Admin().GetAsync($"/api/jobs/{job.GetProperty("id").GetString()}", TestContext.Current.CancellationToken);
        var view = await stored.JsonAsync();
        Assert.Equal("queued", view.GetProperty("state").GetString());
        Assert.Equal("queued", view.GetProperty("decision").GetString());
        Assert.Equal(Payloads.DigestA, view.GetProperty("digest").GetString());
        Assert.Equal(2, await _app.CountAsync("events"));
        Assert.Equal(6, await _app.CountAsync("jobs"));
        Assert.Equal(1, await _app.CountAsync("jobs", "container = 'odd-gitea' AND decision = 'ignored_unknown_policy'"));
    }

    [Fact]
    public async Task A_manual_job_gets_its_approval_link_as_soon_as_it_is_stored()
    {
        _app.Containers.Add("gitea", "gitea/gitea:1.22", "manual");
        await _app.CountAsync("approvals"); // the host runs: the issuer has looked once and waits

        await PostAsync(Payloads.Diun("gitea/gitea:1.22"));

        for (var i = 0; i < 100 && await _app.CountAsync("approvals") == 0; i++)
        {
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        Assert.Equal(1, await _app.CountAsync("approvals"));
    }

    [Fact]
    public async Task An_event_for_no_container_is_recorded_and_answered_with_no_jobs()
    {
        var response = await PostAsync(Payloads.Diun("docker.io/library/redis:7"));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Empty((await response.JsonAsync()).GetProperty("jobs").EnumerateArray());
        Assert.Equal(1, await _app.CountAsync("events", "note LIKE 'no container%'"));
    }

    [Fact]
    public async Task The_same_event_twice_makes_one_job()
    {
        _app.Containers.Add("nginx", "nginx:1.27", "automatic");
        var body = Payloads.Diun("nginx:1.27", containerName: "nginx");

        var first = (await (await PostAsync(body)).JsonAsync()).GetProperty("jobs")[0];
        var second = (await (await PostAsync(body)).JsonAsync()).GetProperty("jobs")[0];

        Assert.Equal(first.GetProperty("id").GetString(), second.GetProperty("id").GetString());
        Assert.Equal("duplicate", second.GetProperty("decision").GetString());
        Assert.Equal(1, await _app.CountAsync("jobs"));
        Assert.Equal(2, await _app.CountAsync("events"));
    }

    [Fact]
    public async Task Concurrent_copies_of_one_event_make_one_job()
    {
        _app.Containers.Add("gitea", "gitea/gitea:1.22", "manual");
        var body = Payloads.Diun("gitea/gitea:1.22");
        var client = _app.Webhook();

        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => PostAsync(body, client)));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.Accepted, r.StatusCode));
        Assert.Equal(1, await _app.CountAsync("jobs"));
        Assert.Equal(20, await _app.CountAsync("events"));
    }

    [Fact]
    public async Task A_newer_digest_supersedes_the_pending_job()
    {
        _app.Containers.Add("gitea", "gitea/gitea:1.22", "manual");

        var older = (await (await PostAsync(Payloads.Diun("gitea/gitea:1.22", Payloads.DigestA))).JsonAsync()).GetProperty("jobs")[0].GetProperty("id").GetString();
        var newer = (await (await PostAsync(Payloads.Diun("gitea/gitea:1.22", Payloads.DigestB))).JsonAsync()).GetProperty("jobs")[0].GetProperty("id").GetString();

        var view = await (await _app.Admin().GetAsync($"/api/jobs/{older}", TestContext.Current.CancellationToken)).JsonAsync();
        Assert.Equal("superseded", view.GetProperty("state").GetString());
        Assert.Equal(newer, view.GetProperty("supersededBy").GetString());
    }

    [Fact]
    public async Task An_event_that_comes_while_docker_is_down_is_kept_and_decided_later()
    {
        _app.Containers.Add("nginx", "nginx:1.27", "automatic");
        _app.Containers.Failure = new HttpRequestException("connection refused");

        var response = await PostAsync(Payloads.Diun("nginx:1.27"));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.True((await response.JsonAsync()).GetProperty("deferred").GetBoolean());
        Assert.Equal(1, await _app.CountAsync("events", "resolution = 'deferred'"));

        _app.Containers.Failure = null;
        var intake = _app.Services.GetRequiredService<WebhookUpdater.Updates.EventIntake>();
        Assert.Equal(1, await intake.ResolveDeferredAsync(TestContext.Current.CancellationToken));
        Assert.Equal(1, await _app.CountAsync("jobs", "state = 'queued' AND container = 'nginx'"));
        Assert.Equal(0, await _app.CountAsync("events", "resolution = 'deferred'"));
    }

    [Fact]
    public async Task A_deferred_event_is_decided_later_from_what_the_journal_kept_not_from_its_body()
    {
        _app.Containers.Add("nginx-a", "nginx:1.27", "automatic");
        _app.Containers.Add("nginx-b", "nginx:1.27", "automatic");
        _app.Containers.Failure = new HttpRequestException("connection refused");
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(Payloads.Diun("nginx:1.27", containerName: "nginx-b"))).StatusCode);

        // The body is kept for the operator only: deciding must not need it.
        var database = _app.Services.GetRequiredService<WebhookUpdater.Persistence.Database>();
        await using (var connection = await database.OpenAsync(TestContext.Current.CancellationToken))
        {
            await Dapper.SqlMapper.ExecuteAsync(connection, "UPDATE events SET payload = 'not json'");
        }

        _app.Containers.Failure = null;
        var intake = _app.Services.GetRequiredService<WebhookUpdater.Updates.EventIntake>();
        Assert.Equal(1, await intake.ResolveDeferredAsync(TestContext.Current.CancellationToken));

        Assert.Equal(1, await _app.CountAsync("jobs", "state = 'queued'"));
        Assert.Equal(1, await _app.CountAsync("jobs", "container = 'nginx-b' AND hub_link = 'https://hub.docker.com/r/gitea/gitea'"));
    }

    [Fact]
    public async Task Jobs_need_the_admin_token()
    {
        var anonymous = await _app.CreateClient().GetAsync("/api/jobs", TestContext.Current.CancellationToken);
        var withWebhookSecret = await _app.Webhook().GetAsync("/api/jobs", TestContext.Current.CancellationToken);
        var admin = await _app.Admin().GetAsync("/api/jobs", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, withWebhookSecret.StatusCode);
        Assert.Equal(HttpStatusCode.OK, admin.StatusCode);
    }

    [Fact]
    public async Task An_unknown_job_is_a_404_problem()
    {
        var response = await _app.Admin().GetAsync("/api/jobs/nope", TestContext.Current.CancellationToken);
        await AssertProblemAsync(response, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Jobs_are_listed_by_state_in_the_journals_words_and_an_unknown_state_is_a_400_that_lists_them()
    {
        _app.Containers.Add("gitea", "gitea/gitea:1.22", "manual");
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(Payloads.Diun("gitea/gitea:1.22"))).StatusCode);

        var waiting = await (await _app.Admin().GetAsync("/api/jobs?state=awaiting_approval", TestContext.Current.CancellationToken)).JsonAsync();
        var queued = await (await _app.Admin().GetAsync("/api/jobs?state=queued", TestContext.Current.CancellationToken)).JsonAsync();
        var problem = await AssertProblemAsync(
            await _app.Admin().GetAsync("/api/jobs?state=AwaitingApproval", TestContext.Current.CancellationToken), HttpStatusCode.BadRequest);

        Assert.Equal("awaiting_approval", Assert.Single(waiting.EnumerateArray()).GetProperty("state").GetString());
        Assert.Empty(queued.EnumerateArray());
        Assert.Contains("awaiting_approval", problem.GetProperty("errors").GetProperty("state")[0].GetString(), StringComparison.Ordinal);
    }
}
