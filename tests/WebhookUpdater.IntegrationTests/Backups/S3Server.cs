using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using WebhookUpdater.Backups;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Backups;

/// <summary>
/// The real S3 stand-in (s3rver, started by scripts/testenv/up.sh): a bucket of the test's own,
/// and credentials handed to the service the way an operator would, as a profile of an AWS
/// credentials file (the SDK's own chain reads it).
/// </summary>
internal sealed class S3Server : IAsyncDisposable
{
    public const string AccessKey = "S3RVER";
    public const string SecretKey = "S3RVER";
    public const string ProfileName = "wu-backups-test";

    private readonly string _folder = Directory.CreateTempSubdirectory("wu-s3-").FullName;

    private S3Server(string url, string bucket)
    {
        Url = url;
        Bucket = bucket;
        ProfilesLocation = Path.Combine(_folder, "credentials");
        File.WriteAllText(ProfilesLocation, $"[{ProfileName}]\naws_access_key_id = {AccessKey}\naws_secret_access_key = {SecretKey}\n");
        Client = new AmazonS3Client(new Amazon.Runtime.BasicAWSCredentials(AccessKey, SecretKey), new AmazonS3Config { ServiceURL = url, ForcePathStyle = true, AuthenticationRegion = "us-east-1" });
    }

    public static string DefaultUrl =>
        Environment.GetEnvironmentVariable("WU_TEST_S3_URL") is { Length: > 0 } url ? url : "http://127.0.0.1:4568";

    public string Url { get; }

    public string Bucket { get; }

    public string ProfilesLocation { get; }

    public AmazonS3Client Client { get; }

    /// <summary>A new bucket in s3rver; a missing s3rver fails under CI and skips elsewhere.</summary>
    public static async Task<S3Server> StartAsync(string? url = null, bool createBucket = true)
    {
        var server = new S3Server(url ?? DefaultUrl, $"wu-it-{Guid.NewGuid().ToString("N")[..12]}");
        if (createBucket)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await server.Client.PutBucketAsync(new PutBucketRequest { BucketName = server.Bucket }, timeout.Token);
            }
            catch (Exception e) when (e is HttpRequestException or OperationCanceledException or AmazonS3Exception or System.Net.Sockets.SocketException)
            {
                await server.DisposeAsync();
                TestEnvironment.Unavailable($"s3rver at {server.Url}", e);
            }
        }

        return server;
    }

    public BackupOptions Options(Action<BackupOptions>? configure = null)
    {
        var options = new BackupOptions
        {
            Store = BackupStores.S3,
            Bucket = Bucket,
            Prefix = "wu/backups",
            ServiceUrl = Url,
            ForcePathStyle = true,
            UseChunkEncoding = false,
            PartSizeMiB = 5,
            Profile = ProfileName,
            ProfilesLocation = ProfilesLocation,
            RequestTimeout = TimeSpan.FromSeconds(30),
        };
        configure?.Invoke(options);
        return options;
    }

    /// <summary>The same, as the settings a service host reads.</summary>
    public Dictionary<string, string?> Settings(int partSizeMiB = 5) => new()
    {
        ["Backups:Store"] = BackupStores.S3,
        ["Backups:Bucket"] = Bucket,
        ["Backups:Prefix"] = "wu/backups",
        ["Backups:ServiceUrl"] = Url,
        ["Backups:ForcePathStyle"] = "true",
        ["Backups:UseChunkEncoding"] = "false",
        ["Backups:PartSizeMiB"] = partSizeMiB.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Backups:Profile"] = ProfileName,
        ["Backups:ProfilesLocation"] = ProfilesLocation,
        ["Backups:Schedule"] = "",
        ["Backups:RestoreTestSchedule"] = "",
    };

    public S3BackupStore Store(Action<BackupOptions>? configure = null) =>
        new(Microsoft.Extensions.Options.Options.Create(Options(configure)), NullLogger<S3BackupStore>.Instance);

    public async Task<IReadOnlyList<string>> KeysAsync()
    {
        var response = await Client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = Bucket });
        return (response.S3Objects ?? []).Select(o => o.Key).Order(StringComparer.Ordinal).ToList();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            var keys = await KeysAsync();
            if (keys.Count > 0)
            {
                await Client.DeleteObjectsAsync(new DeleteObjectsRequest { BucketName = Bucket, Objects = keys.Select(k => new KeyVersion { Key = k }).ToList() });
            }

            await Client.DeleteBucketAsync(Bucket);
        }
        catch (Exception e) when (e is HttpRequestException or AmazonS3Exception or OperationCanceledException)
        {
            // The bucket was never made (s3rver down), or is a fake's.
        }

        Client.Dispose();
        Directory.Delete(_folder, recursive: true);
    }
}
