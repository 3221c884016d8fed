using System.Collections.Concurrent;
using WireMock;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;
using WireMock.Types;
using WireMock.Util;

namespace WebhookUpdater.IntegrationTests.Backups;

public enum S3Fault
{
    /// <summary>Part 2 of every multipart upload answers 500.</summary>
    PartFails,

    /// <summary>Part 2 of every multipart upload never answers (longer than any timeout in the tests).</summary>
    PartHangs,

    /// <summary>Uploads succeed, but HEAD reports a size that is not what was sent.</summary>
    WrongSize,

    /// <summary>Uploads succeed and the size is right, but the store serves other bytes (and no hash of its own).</summary>
    WrongContent,
}

/// <summary>
/// WireMock standing in for S3 only to inject one fault. It answers just enough of the API to get
/// an upload to the faulty step, and records every request so a test can tell what was tried.
/// </summary>
internal sealed class FaultyS3 : IDisposable
{
    private readonly WireMockServer _server;
    private readonly ConcurrentQueue<string> _requests = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<string, long> _sizes = new(StringComparer.Ordinal);

    public FaultyS3(S3Fault fault)
    {
        Fault = fault;
        _server = WireMockServer.Start(settings => settings.Urls = [$"http://127.0.0.1:{Support.DockerFixture.FreePort()}"]);
        _server.Given(Request.Create().UsingAnyMethod()).RespondWith(Response.Create().WithCallback(AnswerAsync));
    }

    public S3Fault Fault { get; }

    public string Url => _server.Urls[0];

    /// <summary>"METHOD /path?query" of every request, in order.</summary>
    public IReadOnlyList<string> Requests => _requests.ToList();

    public bool SawAbort => Requests.Any(r => r.StartsWith("DELETE ", StringComparison.Ordinal) && r.Contains("uploadId=", StringComparison.Ordinal));

    public bool SawComplete => Requests.Any(r => r.StartsWith("POST ", StringComparison.Ordinal) && r.Contains("uploadId=", StringComparison.Ordinal));

    public bool SawManifest => Requests.Any(r => r.Contains("manifest.json", StringComparison.Ordinal) && r.StartsWith("PUT ", StringComparison.Ordinal));

    private async Task<IResponseMessage> AnswerAsync(IRequestMessage request)
    {
        var query = request.RawQuery ?? "";
        _requests.Enqueue($"{request.Method} {request.Path}{(query.Length > 0 && !query.StartsWith('?') ? "?" : "")}{query}");
        var has = (string name) => request.Query?.ContainsKey(name) == true;
        var key = string.Join('/', request.PathSegments.Skip(1));

        switch (request.Method)
        {
            case "POST" when has("uploads"):
                return Xml($"<InitiateMultipartUploadResult><Bucket>{request.PathSegments[0]}</Bucket><Key>{key}</Key><UploadId>upload-1</UploadId></InitiateMultipartUploadResult>");
            case "PUT" when has("partNumber"):
                var part = request.Query!["partNumber"][0];
                if (part == "2" && Fault == S3Fault.PartFails)
                {
                    return Xml("<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>", 500);
                }

                if (part == "2" && Fault == S3Fault.PartHangs)
                {
                    try
                    {
                        await Task.Delay(TimeSpan.FromSeconds(60), _stopping.Token);
                    }
                    catch (OperationCanceledException)
                    {
                    }
                }

                _sizes.AddOrUpdate(key, request.BodyAsBytes?.LongLength ?? 0, (_, size) => size + (request.BodyAsBytes?.LongLength ?? 0));
                return Empty(200, ("ETag", $"\"etag-{part}\""));
            case "POST" when has("uploadId"):
                return Xml($"<CompleteMultipartUploadResult><Bucket>{request.PathSegments[0]}</Bucket><Key>{key}</Key><ETag>\"etag-all-2\"</ETag></CompleteMultipartUploadResult>");
            case "DELETE" when has("uploadId"):
                return Empty(204);
            case "PUT":
                _sizes[key] = request.BodyAsBytes?.LongLength ?? 0;
                return Empty(200, ("ETag", "\"etag-single\""));
            case "HEAD" when Fault == S3Fault.WrongContent:
                return Empty(200, ("Content-Length", _sizes.GetValueOrDefault(key).ToString(System.Globalization.CultureInfo.InvariantCulture)), ("ETag", "\"etag-single\""));
            case "HEAD":
                // Whatever was sent, the store claims one byte.
                return Empty(200, ("Content-Length", "1"), ("ETag", "\"etag-single\""));
            case "GET" when !has("list-type") && Fault == S3Fault.WrongContent:
                var zeros = new ResponseMessage
                {
                    StatusCode = 200,
                    BodyData = new BodyData { BodyAsBytes = new byte[_sizes.GetValueOrDefault(key)], DetectedBodyType = BodyType.Bytes },
                };
                zeros.AddHeader("Content-Type", "application/octet-stream");
                return zeros;
            case "GET" when has("list-type"):
                return Xml($"<ListBucketResult><Name>{request.PathSegments[0]}</Name><Prefix></Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>");
            case "POST" when has("delete"):
                return Xml("<DeleteResult></DeleteResult>");
            default:
                return Xml("<Error><Code>NoSuchKey</Code><Message>not in this fake</Message></Error>", 404);
        }
    }

    private static ResponseMessage Xml(string body, int status = 200)
    {
        var response = new ResponseMessage
        {
            StatusCode = status,
            BodyData = new BodyData { BodyAsString = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>" + body, DetectedBodyType = BodyType.String },
        };
        response.AddHeader("Content-Type", "application/xml");
        return response;
    }

    private static ResponseMessage Empty(int status, params (string Name, string Value)[] headers)
    {
        var response = new ResponseMessage { StatusCode = status };
        foreach (var (name, value) in headers)
        {
            response.AddHeader(name, value);
        }

        return response;
    }

    public void Dispose()
    {
        _stopping.Cancel();
        _server.Stop();
        _stopping.Dispose();
    }
}
