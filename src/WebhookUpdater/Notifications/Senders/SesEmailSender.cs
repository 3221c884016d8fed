using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Amazon.Runtime.Credentials;
using Microsoft.Extensions.Options;
using WebhookUpdater.Configuration;

namespace WebhookUpdater.Notifications.Senders;

/// <summary>
/// AWS credentials resolved the way every AWS SDK does (environment, profile, container, instance
/// role), by AWSSDK.Core's default chain; it caches and refreshes temporary credentials itself.
/// </summary>
internal sealed class AwsCredentialChain : IDisposable
{
    private readonly DefaultAWSCredentialsIdentityResolver _resolver = new();

    public async Task<AwsKey> GetAsync(CancellationToken cancellationToken)
    {
        try
        {
            var credentials = await _resolver.ResolveIdentityAsync(null, cancellationToken);
            var immutable = await credentials.GetCredentialsAsync();
            return new AwsKey(immutable.AccessKey, immutable.SecretKey, immutable.UseToken ? immutable.Token : null);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The SDK's message names the sources it tried, never a secret.
            throw new EmailSendException(
                $"no AWS credentials found for SES ({e.GetType().Name}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, or an instance role",
                transient: false, inner: e);
        }
    }

    public void Dispose() => _resolver.Dispose();
}

/// <summary>
/// SES v2 SendEmail (POST /v2/email/outbound-emails), signed with SigV4. The whole SES dependency
/// is this class: AWSSDK.SimpleEmailV2 can replace its body later without touching anything else.
/// </summary>
internal sealed class SesEmailSender(OutboundHttp outbound, AwsCredentialChain credentials, IOptionsMonitor<EmailOptions> options, TimeProvider time)
    : IEmailSender
{
    private const string SigningService = "ses";

    public string Name => "ses";

    public async Task<string?> SendAsync(OutgoingEmail email, CancellationToken cancellationToken)
    {
        var ses = options.CurrentValue.Ses;
        var region = ses.Region ?? throw new EmailSendException("Email:Ses:Region is not set", transient: false);
        var endpoint = string.IsNullOrWhiteSpace(ses.ServiceUrl) ? $"https://email.{region}.amazonaws.com" : ses.ServiceUrl.TrimEnd('/');

        var body = JsonSerializer.SerializeToUtf8Bytes(
            new SendEmailRequest(
                email.From,
                new Destination(email.To),
                new Content(new Simple(
                    new Text(email.Content.Subject),
                    new Body(new Text(email.Content.Text), new Text(email.Content.Html)))),
                string.IsNullOrWhiteSpace(ses.ConfigurationSetName) ? null : ses.ConfigurationSetName),
            SesJson.Default.SendEmailRequest);

        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(endpoint + "/v2/email/outbound-emails"))
        {
            Content = new ByteArrayContent(body) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } },
        };
        var key = await credentials.GetAsync(cancellationToken);
        SigV4Signer.SignRequest(request, body, key, region, SigningService, time.GetUtcNow());

        using var response = await outbound.Client.SendAsync(request, cancellationToken);
        var answer = await response.Content.ReadAsStringAsync(cancellationToken);
        if (response.IsSuccessStatusCode)
        {
            return TryRead(answer, "MessageId");
        }

        var errorType = response.Headers.TryGetValues("x-amzn-ErrorType", out var types) ? types.First().Split(':')[0] : TryRead(answer, "__type");
        var throttled = response.StatusCode == HttpStatusCode.TooManyRequests
            || (errorType?.Contains("Throttl", StringComparison.OrdinalIgnoreCase) ?? false)
            || (errorType?.Contains("TooManyRequests", StringComparison.OrdinalIgnoreCase) ?? false);
        var transient = throttled || (int)response.StatusCode >= 500 || response.StatusCode == HttpStatusCode.RequestTimeout;
        var message = TryRead(answer, "message") ?? TryRead(answer, "Message");
        throw new EmailSendException(
            $"SES answered {(int)response.StatusCode} {errorType ?? response.ReasonPhrase}{(message is null ? "" : ": " + Shorten(message))}",
            transient,
            response.Headers.RetryAfter?.Delta);
    }

    private static string? TryRead(string json, string property)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String
                ? value.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string Shorten(string value) => value.Length <= 300 ? value : value[..300] + "…";

    internal sealed record SendEmailRequest(
        string FromEmailAddress,
        Destination Destination,
        Content Content,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ConfigurationSetName);

    internal sealed record Destination(IReadOnlyList<string> ToAddresses);

    internal sealed record Content(Simple Simple);

    internal sealed record Simple(Text Subject, Body Body);

    internal sealed record Body(Text Text, Text Html);

    internal sealed record Text(string Data, string Charset = "UTF-8");
}

[JsonSerializable(typeof(SesEmailSender.SendEmailRequest))]
internal sealed partial class SesJson : JsonSerializerContext;
