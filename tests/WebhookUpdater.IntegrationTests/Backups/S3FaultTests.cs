using Microsoft.Extensions.Logging.Abstractions;
using WebhookUpdater.Backups;

namespace WebhookUpdater.IntegrationTests.Backups;

/// <summary>The S3 store when S3 misbehaves (WireMock injects the fault).</summary>
public sealed class S3FaultTests
{
    internal static BackupOptions Options(FaultyS3 s3) => new()
    {
        Store = BackupStores.S3,
        Bucket = "backups",
        Prefix = "wu",
        ServiceUrl = s3.Url,
        ForcePathStyle = true,
        UseChunkEncoding = false,
        PartSizeMiB = 5,
        RequestTimeout = TimeSpan.FromSeconds(2),
        MaxRetries = 1,
        Profile = S3Server.ProfileName,
    };

    [Theory]
    [InlineData(S3Fault.PartFails, "500 InternalError")]
    [InlineData(S3Fault.PartHangs, "timed out")]
    public async Task A_part_that_fails_aborts_the_multipart_upload_and_nothing_is_completed(S3Fault fault, string why)
    {
        using var s3 = new FaultyS3(fault);
        await using var credentials = await S3Server.StartAsync(createBucket: false);
        var options = Options(s3);
        options.ProfilesLocation = credentials.ProfilesLocation;
        using var store = new S3BackupStore(Microsoft.Extensions.Options.Options.Create(options), NullLogger<S3BackupStore>.Instance);

        var error = await Assert.ThrowsAsync<BackupStoreException>(() => store.PutAsync(
            "20240101-020000-daily-gitea-abc123", "data.tar.gz", "gitea:/data",
            new NonSeekableStream(S3BackupStoreTests.RandomBytes(12 * 1024 * 1024)), TestContext.Current.CancellationToken));

        Assert.Contains(why, error.Message, StringComparison.Ordinal);
        Assert.Contains("aborted", error.Message, StringComparison.Ordinal);
        Assert.True(s3.SawAbort, string.Join("\n", s3.Requests));
        Assert.False(s3.SawComplete, string.Join("\n", s3.Requests));
    }

    [Fact]
    public async Task A_store_that_serves_other_bytes_of_the_right_size_fails_the_read_back()
    {
        using var s3 = new FaultyS3(S3Fault.WrongContent);
        await using var credentials = await S3Server.StartAsync(createBucket: false);
        var options = Options(s3);
        options.ProfilesLocation = credentials.ProfilesLocation;
        using var store = new S3BackupStore(Microsoft.Extensions.Options.Options.Create(options), NullLogger<S3BackupStore>.Instance);

        var error = await Assert.ThrowsAsync<BackupVerificationException>(() => store.PutAsync(
            "20240101-020000-daily-gitea-abc123", "data.tar.gz", "gitea:/data",
            new NonSeekableStream(S3BackupStoreTests.RandomBytes(12 * 1024 * 1024)), TestContext.Current.CancellationToken));

        Assert.Contains($"read back as {12 * 1024 * 1024} bytes with SHA-256", error.Message, StringComparison.Ordinal);
        Assert.Contains(s3.Requests, r => r.StartsWith("GET /backups/wu/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_store_that_reports_another_size_fails_verification()
    {
        using var s3 = new FaultyS3(S3Fault.WrongSize);
        await using var credentials = await S3Server.StartAsync(createBucket: false);
        var options = Options(s3);
        options.ProfilesLocation = credentials.ProfilesLocation;
        using var store = new S3BackupStore(Microsoft.Extensions.Options.Options.Create(options), NullLogger<S3BackupStore>.Instance);

        var error = await Assert.ThrowsAsync<BackupVerificationException>(() => store.PutAsync(
            "20240101-020000-daily-gitea-abc123", "data.tar.gz", "gitea:/data",
            new NonSeekableStream(S3BackupStoreTests.RandomBytes(12 * 1024 * 1024)), TestContext.Current.CancellationToken));

        Assert.Contains("S3 reports 1 bytes", error.Message, StringComparison.Ordinal);
    }
}
