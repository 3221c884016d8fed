using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace WebhookUpdater.Notifications.Senders;

/// <summary>The parts of an HTTP request that Signature Version 4 covers.</summary>
public sealed record SigV4Request(
    string Method,
    string Path,
    IReadOnlyList<KeyValuePair<string, string>> Query,
    IReadOnlyList<KeyValuePair<string, string>> Headers,
    string PayloadHash);

/// <summary>Every intermediate result, so tests can hold each one against AWS's published vectors.</summary>
public sealed record SigV4Result(string CanonicalRequest, string StringToSign, string SignedHeaders, string Signature, string Authorization);

/// <summary>Access key, secret and optional session token, as AWSSDK.Core's credential chain resolves them.</summary>
public sealed record AwsKey(string AccessKeyId, string SecretAccessKey, string? SessionToken)
{
    // Never print the secret or the token (records print every member by default).
    public override string ToString() => $"AwsKey {{ AccessKeyId = {AccessKeyId} }}";
}

/// <summary>
/// AWS Signature Version 4 for header-signed requests, small enough to read in one go. AWSSDK.Core
/// has a signer too, but only the service packages (not served here for SES v2) drive it; this one
/// signs a plain HttpRequestMessage and is checked against AWS's sig-v4 test suite.
/// </summary>
public static class SigV4Signer
{
    public const string Algorithm = "AWS4-HMAC-SHA256";
    public static readonly string EmptyPayloadHash = HashHex([]);

    public static SigV4Result Sign(SigV4Request request, AwsKey key, string region, string service, DateTimeOffset time)
    {
        var amzDate = AmzDate(time);
        var day = amzDate[..8];

        var headers = request.Headers
            .GroupBy(header => header.Key.ToLowerInvariant(), StringComparer.Ordinal)
            .OrderBy(group => group.Key, StringComparer.Ordinal)
            .Select(group => (Name: group.Key, Value: string.Join(',', group.Select(header => TrimHeaderValue(header.Value)))))
            .ToList();
        var signedHeaders = string.Join(';', headers.Select(header => header.Name));

        var canonical = new StringBuilder()
            .Append(request.Method.ToUpperInvariant()).Append('\n')
            .Append(CanonicalPath(request.Path)).Append('\n')
            .Append(CanonicalQuery(request.Query)).Append('\n');
        foreach (var (name, value) in headers)
        {
            canonical.Append(name).Append(':').Append(value).Append('\n');
        }

        canonical.Append('\n').Append(signedHeaders).Append('\n').Append(request.PayloadHash);
        var canonicalRequest = canonical.ToString();

        var scope = $"{day}/{region}/{service}/aws4_request";
        var stringToSign = $"{Algorithm}\n{amzDate}\n{scope}\n{HashHex(Encoding.UTF8.GetBytes(canonicalRequest))}";

        var signingKey = Hmac(Encoding.UTF8.GetBytes("AWS4" + key.SecretAccessKey), day);
        signingKey = Hmac(signingKey, region);
        signingKey = Hmac(signingKey, service);
        signingKey = Hmac(signingKey, "aws4_request");
        var signature = Convert.ToHexStringLower(Hmac(signingKey, stringToSign));

        var authorization = $"{Algorithm} Credential={key.AccessKeyId}/{scope}, SignedHeaders={signedHeaders}, Signature={signature}";
        return new SigV4Result(canonicalRequest, stringToSign, signedHeaders, signature, authorization);
    }

    /// <summary>
    /// Adds X-Amz-Date (and X-Amz-Security-Token for temporary credentials) and the Authorization
    /// header to a request whose body is <paramref name="body"/>. Signs host, content-type and the x-amz-* headers.
    /// </summary>
    public static void SignRequest(HttpRequestMessage request, byte[] body, AwsKey key, string region, string service, DateTimeOffset time)
    {
        var uri = request.RequestUri ?? throw new InvalidOperationException("The request has no URI.");
        request.Headers.Remove("X-Amz-Date");
        request.Headers.TryAddWithoutValidation("X-Amz-Date", AmzDate(time));
        if (!string.IsNullOrEmpty(key.SessionToken))
        {
            request.Headers.Remove("X-Amz-Security-Token");
            request.Headers.TryAddWithoutValidation("X-Amz-Security-Token", key.SessionToken);
        }

        var host = uri.IsDefaultPort ? uri.Host : $"{uri.Host}:{uri.Port}";
        var headers = new List<KeyValuePair<string, string>> { new("host", host) };
        if (request.Content?.Headers.ContentType is { } contentType)
        {
            headers.Add(new("content-type", contentType.ToString()));
        }

        foreach (var header in request.Headers.Where(h => h.Key.StartsWith("x-amz-", StringComparison.OrdinalIgnoreCase)))
        {
            headers.AddRange(header.Value.Select(value => new KeyValuePair<string, string>(header.Key, value)));
        }

        var query = ParseQuery(uri.Query);
        var result = Sign(new SigV4Request(request.Method.Method, uri.AbsolutePath, query, headers, HashHex(body)), key, region, service, time);
        request.Headers.TryAddWithoutValidation("Authorization", result.Authorization);
    }

    public static string AmzDate(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);

    public static string HashHex(ReadOnlySpan<byte> data) => Convert.ToHexStringLower(SHA256.HashData(data));

    private static byte[] Hmac(byte[] key, string data) => HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(data));

    /// <summary>Each segment URI-encoded once (RFC 3986 unreserved characters kept); '/' separates.</summary>
    private static string CanonicalPath(string path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return "/";
        }

        return string.Join('/', path.Split('/').Select(segment => Encode(Uri.UnescapeDataString(segment))));
    }

    private static string CanonicalQuery(IReadOnlyList<KeyValuePair<string, string>> query) =>
        string.Join('&', query
            .Select(pair => (Key: Encode(pair.Key), Value: Encode(pair.Value)))
            .OrderBy(pair => pair.Key, StringComparer.Ordinal)
            .ThenBy(pair => pair.Value, StringComparer.Ordinal)
            .Select(pair => $"{pair.Key}={pair.Value}"));

    private static List<KeyValuePair<string, string>> ParseQuery(string query) =>
        query.TrimStart('?')
            .Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(part =>
            {
                var equals = part.IndexOf('=', StringComparison.Ordinal);
                return equals < 0
                    ? new KeyValuePair<string, string>(Uri.UnescapeDataString(part), "")
                    : new KeyValuePair<string, string>(Uri.UnescapeDataString(part[..equals]), Uri.UnescapeDataString(part[(equals + 1)..]));
            })
            .ToList();

    /// <summary>Percent-encodes all but A-Z a-z 0-9 - _ . ~, with upper-case hex, as SigV4 asks.</summary>
    private static string Encode(string value)
    {
        var builder = new StringBuilder(value.Length);
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            var c = (char)b;
            if (c is (>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '_' or '.' or '~')
            {
                builder.Append(c);
            }
            else
            {
                builder.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }
        }

        return builder.ToString();
    }

    /// <summary>Leading and trailing spaces go, and runs of spaces inside become one.</summary>
    private static string TrimHeaderValue(string value)
    {
        var builder = new StringBuilder(value.Length);
        var space = false;
        foreach (var c in value.Trim())
        {
            if (c is ' ' or '\t')
            {
                space = true;
                continue;
            }

            if (space)
            {
                builder.Append(' ');
                space = false;
            }

            builder.Append(c);
        }

        return builder.ToString();
    }
}
