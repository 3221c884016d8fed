using System.Text;
using WebhookUpdater.Notifications.Senders;

namespace WebhookUpdater.Tests.Notifications;

/// <summary>
/// Against AWS's published Signature Version 4 test suite (aws-sig-v4-test-suite): the same
/// credentials, date, region and service, and the canonical request, string to sign and
/// signature the suite publishes for each case.
/// </summary>
public sealed class SigV4SignerTests
{
    private static readonly AwsKey SuiteKey = new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", null);
    private static readonly DateTimeOffset SuiteTime = new(2015, 8, 30, 12, 36, 0, TimeSpan.Zero);
    private const string Host = "example.amazonaws.com";
    private const string EmptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    private static SigV4Result Sign(string method, (string, string)[] headers, (string, string)[]? query = null, string payload = "", AwsKey? key = null) =>
        SigV4Signer.Sign(
            new SigV4Request(
                method,
                "/",
                (query ?? []).Select(q => new KeyValuePair<string, string>(q.Item1, q.Item2)).ToList(),
                headers.Select(h => new KeyValuePair<string, string>(h.Item1, h.Item2)).ToList(),
                SigV4Signer.HashHex(Encoding.UTF8.GetBytes(payload))),
            key ?? SuiteKey,
            "us-east-1",
            "service",
            SuiteTime);

    private static readonly (string, string)[] VanillaHeaders = [("Host", Host), ("X-Amz-Date", "20150830T123600Z")];

    [Fact]
    public void Get_vanilla_reproduces_the_published_canonical_request_string_to_sign_and_signature()
    {
        var result = Sign("GET", VanillaHeaders);

        Assert.Equal($"GET\n/\n\nhost:{Host}\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n{EmptyHash}", result.CanonicalRequest);
        Assert.Equal(
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
            result.StringToSign);
        Assert.Equal("5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", result.Signature);
        Assert.Equal(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            result.Authorization);
    }

    [Fact]
    public void Post_vanilla_reproduces_the_published_canonical_request_string_to_sign_and_signature()
    {
        var result = Sign("POST", VanillaHeaders);

        Assert.Equal($"POST\n/\n\nhost:{Host}\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n{EmptyHash}", result.CanonicalRequest);
        Assert.Equal(
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
            result.StringToSign);
        Assert.Equal("5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b", result.Signature);
    }

    [Fact]
    public void Get_vanilla_query_order_key_case_sorts_the_query_by_key()
    {
        var result = Sign("GET", VanillaHeaders, [("Param2", "value2"), ("Param1", "value1")]);

        Assert.Equal("Param1=value1&Param2=value2", result.CanonicalRequest.Split('\n')[2]);
        Assert.Equal("b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500", result.Signature);
    }

    [Fact]
    public void Get_vanilla_query_order_key_sorts_repeated_keys_by_value()
    {
        var result = Sign("GET", VanillaHeaders, [("Param1", "value2"), ("Param1", "Value1")]);

        Assert.Equal("Param1=Value1&Param1=value2", result.CanonicalRequest.Split('\n')[2]);
        Assert.Equal("eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1", result.Signature);
    }

    [Fact]
    public void Post_header_value_case_keeps_the_value_case_and_lowers_the_name()
    {
        var result = Sign("POST", [.. VanillaHeaders, ("My-Header1", "VALUE1")]);

        Assert.Contains("my-header1:VALUE1\n", result.CanonicalRequest, StringComparison.Ordinal);
        Assert.Equal("host;my-header1;x-amz-date", result.SignedHeaders);
        Assert.Equal("cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d", result.Signature);
    }

    [Fact]
    public void Post_x_www_form_urlencoded_signs_the_body_hash_and_the_content_type()
    {
        var result = Sign("POST", [.. VanillaHeaders, ("Content-Type", "application/x-www-form-urlencoded")], payload: "Param1=value1");

        Assert.EndsWith("\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e", result.CanonicalRequest, StringComparison.Ordinal);
        Assert.Equal("content-type;host;x-amz-date", result.SignedHeaders);
        Assert.Equal("ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a", result.Signature);
    }

    [Fact]
    public void Post_sts_header_before_signs_the_session_token()
    {
        const string token =
            "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/"
            + "qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+"
            + "scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

        var result = Sign("POST", [.. VanillaHeaders, ("X-Amz-Security-Token", token)]);

        Assert.Equal("host;x-amz-date;x-amz-security-token", result.SignedHeaders);
        Assert.Equal("85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead", result.Signature);
    }

    [Fact]
    public void A_request_message_gets_the_date_the_token_and_an_authorization_that_matches_the_vector_form()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "https://example.amazonaws.com/")
        {
            Content = new ByteArrayContent(Encoding.UTF8.GetBytes("Param1=value1")),
        };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/x-www-form-urlencoded");

        SigV4Signer.SignRequest(request, Encoding.UTF8.GetBytes("Param1=value1"), SuiteKey, "us-east-1", "service", SuiteTime);

        Assert.Equal("20150830T123600Z", request.Headers.GetValues("X-Amz-Date").Single());
        // The same request as the suite's post-x-www-form-urlencoded case, so the same signature.
        Assert.EndsWith("Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a", request.Headers.GetValues("Authorization").Single(), StringComparison.Ordinal);
    }

    [Fact]
    public void The_key_never_prints_its_secret()
    {
        Assert.DoesNotContain(SuiteKey.SecretAccessKey, SuiteKey.ToString(), StringComparison.Ordinal);
    }
}
