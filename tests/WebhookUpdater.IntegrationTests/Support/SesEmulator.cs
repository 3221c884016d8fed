using System.Net.Http.Json;
using System.Text.Json;

namespace WebhookUpdater.IntegrationTests.Support;

/// <summary>One email as aws-ses-v2-local's GET /store shows it.</summary>
internal sealed record StoredEmail(string From, IReadOnlyList<string> To, string Subject, string? Text, string? Html);

/// <summary>
/// The SES v2 emulator (npm aws-ses-v2-local) that scripts/testenv/up.sh starts. Its store is
/// shared with every other test run on the machine: tests send to an address of their own and
/// read only that address's mail, and never clear the store.
/// </summary>
internal sealed class SesEmulator : IDisposable
{
    private readonly HttpClient _http;

    public SesEmulator()
        : this(Environment.GetEnvironmentVariable("WU_TEST_SES_URL") is { Length: > 0 } url ? url : "http://127.0.0.1:8005")
    {
    }

    /// <summary>Another emulator, e.g. the container a stack test starts on its compose network.</summary>
    public SesEmulator(string url)
    {
        Url = url;
        _http = new HttpClient { BaseAddress = new Uri(Url), Timeout = TimeSpan.FromSeconds(10) };
    }

    /// <summary>An emulator reached through <paramref name="http"/> (e.g. one whose sockets open in another network namespace).</summary>
    public SesEmulator(string url, HttpClient http)
    {
        Url = url;
        _http = http;
        _http.BaseAddress = new Uri(Url);
    }

    public string Url { get; }

    /// <summary>AWS credentials the service under test resolves through the SDK's chain (the emulator accepts any).</summary>
    public const string AccessKeyId = "AKIAWUTESTACCESSKEY7";
    public const string SecretAccessKey = "wu-test-aws-secret-access-key-0123456789abcd";

    public static Dictionary<string, string?> AwsEnvironment => new()
    {
        ["AWS_ACCESS_KEY_ID"] = AccessKeyId,
        ["AWS_SECRET_ACCESS_KEY"] = SecretAccessKey,
        // Never let the SDK's chain look for an instance role on the network.
        ["AWS_EC2_METADATA_DISABLED"] = "true",
    };

    /// <summary>For services hosted in this process: the SDK reads the process environment.</summary>
    public static void UseTestCredentialsInThisProcess()
    {
        foreach (var (key, value) in AwsEnvironment)
        {
            Environment.SetEnvironmentVariable(key, value);
        }
    }

    /// <summary>
    /// The settings of a service that mails <paramref name="to"/> through this emulator with the
    /// fast update gate and approval scan of the update tests, plus <paramref name="more"/>.
    /// </summary>
    public Dictionary<string, string?> ServiceSettings(string to, IDictionary<string, string?> baseSettings, IDictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?>(baseSettings)
        {
            ["Email:Sender"] = "Ses",
            ["Email:Ses:Region"] = "us-east-1",
            ["Email:Ses:ServiceUrl"] = Url,
            ["Email:To"] = to,
        };
        foreach (var (key, value) in AwsEnvironment.Concat(more ?? new Dictionary<string, string?>()))
        {
            settings[key] = value;
        }

        return settings;
    }

    public static string NewAddress(string role) => $"{role}-{Guid.NewGuid():N}@example.test";

    public async Task RequireAsync()
    {
        try
        {
            (await _http.GetAsync("/store")).EnsureSuccessStatusCode();
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            TestEnvironment.Unavailable($"The SES v2 emulator at {Url}", e);
        }
    }

    public async Task<IReadOnlyList<StoredEmail>> MailToAsync(string address)
    {
        var store = await _http.GetFromJsonAsync<JsonElement>("/store");
        return store.GetProperty("emails").EnumerateArray()
            .Select(email => new StoredEmail(
                email.GetProperty("from").GetString() ?? "",
                email.GetProperty("destination").GetProperty("to").EnumerateArray().Select(to => to.GetString() ?? "").ToList(),
                email.GetProperty("subject").GetString() ?? "",
                email.GetProperty("body").TryGetProperty("text", out var text) ? text.GetString() : null,
                email.GetProperty("body").TryGetProperty("html", out var html) ? html.GetString() : null))
            .Where(email => email.To.Contains(address))
            .ToList();
    }

    public async Task<StoredEmail> WaitForAsync(string address, Func<StoredEmail, bool> match, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if ((await MailToAsync(address)).FirstOrDefault(match) is { } found)
            {
                return found;
            }

            await Task.Delay(200);
        }

        Assert.Fail($"no matching email to {address} within {timeout}; got: {string.Join(" | ", (await MailToAsync(address)).Select(e => e.Subject))}");
        return null!;
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>The system clock, moved forward on demand: timers still run in real time.</summary>
internal sealed class ShiftedTimeProvider : TimeProvider
{
    private long _offsetTicks;

    public void Advance(TimeSpan by) => Interlocked.Add(ref _offsetTicks, by.Ticks);

    public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));
}
