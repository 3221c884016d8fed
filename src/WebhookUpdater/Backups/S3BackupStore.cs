using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Amazon;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Options;

namespace WebhookUpdater.Backups;

/// <summary>
/// Backup sets in an S3 bucket, laid out like the local folder: {Prefix}/{set id}/{object} and
/// {Prefix}/{set id}/manifest.json, written last. Objects go up through the multipart API in
/// fixed-size parts read straight from the stream (two part buffers: one uploading while the
/// next fills), so memory is bounded and nothing touches the disk. Every object is verified
/// after the upload: its size as the store reports it, and its SHA-256 either as a checksum the
/// store computed itself or, when the store gives none, by reading the object back.
/// </summary>
public sealed partial class S3BackupStore : IBackupStore, IDisposable
{
    private readonly AmazonS3Client _s3;
    private readonly BackupOptions _options;
    private readonly ILogger<S3BackupStore> _logger;

    public S3BackupStore(IOptions<BackupOptions> options, ILogger<S3BackupStore> logger)
    {
        _options = options.Value;
        _logger = logger;
        _s3 = new AmazonS3Client(ClientConfig(_options));
    }

    public static AmazonS3Config ClientConfig(BackupOptions options)
    {
        var config = new AmazonS3Config
        {
            ForcePathStyle = options.ForcePathStyle,
            Timeout = options.RequestTimeout,
            MaxErrorRetry = options.MaxRetries,
            RetryMode = RequestRetryMode.Standard,
        };
        if (string.IsNullOrWhiteSpace(options.ServiceUrl))
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(options.Region);
        }
        else
        {
            config.ServiceURL = options.ServiceUrl;
            config.AuthenticationRegion = options.Region;
        }

        if (!string.IsNullOrWhiteSpace(options.Profile))
        {
            config.Profile = new Profile(options.Profile, string.IsNullOrWhiteSpace(options.ProfilesLocation) ? null : options.ProfilesLocation);
        }

        return config;
    }

    private string Bucket => _options.Bucket!;

    public string Describe() => $"s3://{Bucket}/{SetPrefix("")}";

    public async Task<BackupObject> PutAsync(string setId, string name, string source, Stream content, CancellationToken cancellationToken)
    {
        var key = Key(setId, name);
        try
        {
            return await PutCoreAsync(key, name, source, content, cancellationToken);
        }
        catch (Exception e) when (IsStoreFailure(e, cancellationToken))
        {
            throw new BackupStoreException($"S3 upload of {key} failed: {Describe(e)}", e);
        }
    }

    /// <summary>
    /// An error of the store (or the network, or a timeout) rather than of the caller: it becomes
    /// a <see cref="BackupStoreException"/>, so a timeout is never mistaken for a shutdown.
    /// </summary>
    private static bool IsStoreFailure(Exception e, CancellationToken cancellationToken) =>
        e is not (BackupStoreException or BackupVerificationException or ArgumentException)
        && !(e is OperationCanceledException && cancellationToken.IsCancellationRequested);

    private async Task<BackupObject> PutCoreAsync(string key, string name, string source, Stream content, CancellationToken cancellationToken)
    {
        var partSize = (int)_options.PartSizeBytes;
        var buffers = new[] { ArrayPool<byte>.Shared.Rent(partSize), ArrayPool<byte>.Shared.Rent(partSize) };
        try
        {
            using var whole = new WholeHash();
            var filled = await FillAsync(content, buffers[0], partSize, cancellationToken);
            whole.Append(buffers[0], filled);

            (long Size, string Checksum) sent;
            if (filled < partSize)
            {
                // The whole object fits in one part: one PUT of a known length.
                sent = (filled, await PutSmallAsync(key, buffers[0], filled, cancellationToken));
            }
            else
            {
                sent = await PutMultipartAsync(key, content, buffers, filled, whole, cancellationToken);
            }

            var (sha256, md5) = whole.Finish();
            await VerifyAsync(key, sent.Size, sha256, md5, sent.Checksum, cancellationToken);
            return new BackupObject(name, source, sent.Size, Convert.ToHexStringLower(sha256));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffers[0]);
            ArrayPool<byte>.Shared.Return(buffers[1]);
        }
    }

    /// <summary>
    /// Parts of exactly <c>PartSizeMiB</c> (the last one shorter). While part N uploads, part N+1
    /// is read from the source, so the dump and the upload run side by side. Returns the size and
    /// the composite checksum S3 computes for such an upload (SHA-256 of the parts' SHA-256s, "-N").
    /// </summary>
    private async Task<(long Size, string Checksum)> PutMultipartAsync(
        string key, Stream content, byte[][] buffers, int firstFill, WholeHash whole, CancellationToken cancellationToken)
    {
        var initiate = new InitiateMultipartUploadRequest
        {
            BucketName = Bucket,
            Key = key,
            ContentType = "application/octet-stream",
            ChecksumAlgorithm = ChecksumAlgorithm.SHA256,
        };
        ApplyStorageSettings(initiate);
        string uploadId;
        try
        {
            uploadId = (await _s3.InitiateMultipartUploadAsync(initiate, cancellationToken)).UploadId;
        }
        catch (AmazonServiceException e)
        {
            throw new BackupStoreException($"S3 refused to start the upload of {key}: {Describe(e)}", e);
        }

        var parts = new List<PartETag>();
        using var partDigests = new MemoryStream();
        long size = 0;
        var current = 0;
        var filled = firstFill;
        try
        {
            while (filled > 0)
            {
                var partNumber = parts.Count + 1;
                var partDigest = SHA256.HashData(buffers[current].AsSpan(0, filled));
                partDigests.Write(partDigest);
                var upload = UploadPartAsync(key, uploadId, partNumber, buffers[current], filled, partDigest, cancellationToken);
                size += filled;

                var next = 1 - current;
                var read = TimedAsync(FillAsync(content, buffers[next], (int)_options.PartSizeBytes, cancellationToken));
                var uploadTook = TimeSpan.Zero;
                try
                {
                    (var part, uploadTook) = await TimedAsync(upload);
                    parts.Add(part);
                }
                finally
                {
                    // The read owns the other buffer: wait for it before that buffer is reused or returned.
                    (filled, var readTook) = await read;
                    if (_logger.IsEnabled(LogLevel.Debug))
                    {
                        LogPartTimes(_logger, key, partNumber, (long)uploadTook.TotalMilliseconds, (long)readTook.TotalMilliseconds);
                    }
                }

                whole.Append(buffers[next], filled);
                current = next;
            }

            var complete = new CompleteMultipartUploadRequest { BucketName = Bucket, Key = key, UploadId = uploadId, PartETags = parts };
            await _s3.CompleteMultipartUploadAsync(complete, cancellationToken);
        }
        catch (Exception e)
        {
            await AbortUploadAsync(key, uploadId);
            if (e is OperationCanceledException && cancellationToken.IsCancellationRequested)
            {
                throw;
            }

            throw e is BackupStoreException
                ? e
                : new BackupStoreException($"S3 upload of {key} failed after {parts.Count} part(s), {size} bytes; the multipart upload was aborted: {Describe(e)}", e);
        }

        return (size, $"{Convert.ToBase64String(SHA256.HashData(partDigests.ToArray()))}-{parts.Count}");
    }

    private async Task<PartETag> UploadPartAsync(string key, string uploadId, int partNumber, byte[] buffer, int length, byte[] sha256, CancellationToken cancellationToken)
    {
        var request = new UploadPartRequest
        {
            BucketName = Bucket,
            Key = key,
            UploadId = uploadId,
            PartNumber = partNumber,
            PartSize = length,
            // Seekable, so the SDK can rewind it for a retry.
            InputStream = new MemoryStream(buffer, 0, length, writable: false),
            UseChunkEncoding = _options.UseChunkEncoding,
            ChecksumAlgorithm = ChecksumAlgorithm.SHA256,
            ChecksumSHA256 = Convert.ToBase64String(sha256),
        };
        var response = await _s3.UploadPartAsync(request, cancellationToken);
        if (string.IsNullOrEmpty(response.ETag))
        {
            throw new BackupStoreException($"S3 answered part {partNumber} of {key} without an ETag");
        }

        LogPart(_logger, key, partNumber, length);
        return new PartETag(partNumber, response.ETag) { ChecksumSHA256 = request.ChecksumSHA256 };
    }

    /// <summary>One PUT of a small object; returns the full-object checksum S3 would report.</summary>
    private async Task<string> PutSmallAsync(string key, byte[] buffer, int length, CancellationToken cancellationToken)
    {
        var checksum = Convert.ToBase64String(SHA256.HashData(buffer.AsSpan(0, length)));
        var request = new PutObjectRequest
        {
            BucketName = Bucket,
            Key = key,
            ContentType = key.EndsWith(".json", StringComparison.Ordinal) ? "application/json" : "application/octet-stream",
            InputStream = new MemoryStream(buffer, 0, length, writable: false),
            UseChunkEncoding = _options.UseChunkEncoding,
            ChecksumAlgorithm = ChecksumAlgorithm.SHA256,
            ChecksumSHA256 = checksum,
        };
        ApplyStorageSettings(request);
        try
        {
            await _s3.PutObjectAsync(request, cancellationToken);
        }
        catch (AmazonServiceException e)
        {
            throw new BackupStoreException($"S3 upload of {key} ({length} bytes) failed: {Describe(e)}", e);
        }

        return checksum;
    }

    /// <summary>
    /// The size must be what was sent. The content is proven by a hash the store computed over
    /// what it keeps: its SHA-256 when it reports one (AWS does, for uploads that carried
    /// checksums; a different one fails), else an ETag that is the MD5 of the whole object
    /// (s3rver, and AWS for single PUTs without KMS). Anything else, and with AlwaysReadBack,
    /// the object is read back and hashed. A 200 alone proves nothing: some stores keep a mangled
    /// body and say OK.
    /// </summary>
    private async Task VerifyAsync(string key, long size, byte[] sha256, byte[] md5, string expectedChecksum, CancellationToken cancellationToken)
    {
        GetObjectMetadataResponse head;
        try
        {
            head = await _s3.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = Bucket, Key = key, ChecksumMode = ChecksumMode.ENABLED }, cancellationToken);
        }
        catch (AmazonServiceException e)
        {
            throw new BackupVerificationException($"S3 does not show {key} after its upload: {Describe(e)}");
        }

        if (head.ContentLength != size)
        {
            throw new BackupVerificationException($"S3 reports {head.ContentLength} bytes for {key}, but {size} were sent{ChunkHint}");
        }

        if (!string.IsNullOrEmpty(head.ChecksumSHA256))
        {
            if (!string.Equals(head.ChecksumSHA256, expectedChecksum, StringComparison.Ordinal))
            {
                throw new BackupVerificationException($"S3 reports SHA-256 {head.ChecksumSHA256} for {key}, but what was sent has {expectedChecksum}");
            }

            if (!_options.AlwaysReadBack)
            {
                LogVerified(_logger, key, size, "store SHA-256");
                return;
            }
        }
        else if (!_options.AlwaysReadBack && string.Equals(head.ETag?.Trim('"'), Convert.ToHexStringLower(md5), StringComparison.OrdinalIgnoreCase))
        {
            LogVerified(_logger, key, size, "store MD5 (ETag)");
            return;
        }

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long read = 0;
        await using (var stored = await OpenKeyAsync(key, cancellationToken))
        {
            var buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
            try
            {
                int n;
                while ((n = await stored.ReadAsync(buffer.AsMemory(0, 1 << 20), cancellationToken)) > 0)
                {
                    hash.AppendData(buffer, 0, n);
                    read += n;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        var storedHash = hash.GetHashAndReset();
        if (read != size || !storedHash.AsSpan().SequenceEqual(sha256))
        {
            throw new BackupVerificationException(
                $"{key} read back as {read} bytes with SHA-256 {Convert.ToHexStringLower(storedHash)}, but {size} bytes with {Convert.ToHexStringLower(sha256)} were sent"
                + ChunkHint);
        }

        LogVerified(_logger, key, size, "read back");
    }

    private string ChunkHint => _options.UseChunkEncoding ? " (if this store keeps aws-chunked bodies as they were sent, set Backups:UseChunkEncoding=false)" : "";

    public async Task CompleteAsync(BackupManifest manifest, CancellationToken cancellationToken)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(manifest, BackupJson.Options);
        var key = Key(manifest.Id, BackupNames.ManifestName);
        try
        {
                var checksum = await PutSmallAsync(key, json, json.Length, cancellationToken);
            using var whole = new WholeHash();
            whole.Append(json, json.Length);
            var (sha256, md5) = whole.Finish();
            await VerifyAsync(key, json.Length, sha256, md5, checksum, cancellationToken);
        }
        catch (Exception e) when (IsStoreFailure(e, cancellationToken))
        {
            throw new BackupStoreException($"S3 upload of the manifest {key} failed: {Describe(e)}", e);
        }
    }

    public async Task AbortAsync(string setId, CancellationToken cancellationToken)
    {
        // Multipart uploads in flight were aborted by the PutAsync that started them.
        await DeleteKeysAsync((await ListKeysAsync(SetPrefix(setId), cancellationToken)).Select(o => o.Key).ToList(), cancellationToken);
    }

    public async Task DeleteAsync(string setId, CancellationToken cancellationToken)
    {
        var manifest = Key(setId, BackupNames.ManifestName);
        await _s3.DeleteObjectAsync(new DeleteObjectRequest { BucketName = Bucket, Key = manifest }, cancellationToken);
        await AbortAsync(setId, cancellationToken);
    }

    public async Task<BackupManifest?> ManifestAsync(string setId, CancellationToken cancellationToken)
    {
        try
        {
            await using var stream = await OpenKeyAsync(Key(setId, BackupNames.ManifestName), cancellationToken);
            return await JsonSerializer.DeserializeAsync<BackupManifest>(stream, BackupJson.Options, cancellationToken);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public Task<Stream> OpenAsync(string setId, string name, CancellationToken cancellationToken) =>
        OpenKeyAsync(Key(setId, name), cancellationToken);

    public async Task<IReadOnlyList<StoredSet>> ListAsync(CancellationToken cancellationToken)
    {
        var prefix = SetPrefix("");
        return (await ListKeysAsync(prefix, cancellationToken))
            .Select(o => (Set: o.Key[prefix.Length..].Split('/')[0], Object: o))
            .Where(entry => BackupNames.IsSafe(entry.Set))
            .GroupBy(entry => entry.Set)
            .Select(set => new StoredSet(
                set.Key,
                set.Sum(entry => entry.Object.Size ?? 0),
                new DateTimeOffset(set.Min(entry => entry.Object.LastModified ?? DateTime.UnixEpoch).ToUniversalTime(), TimeSpan.Zero),
                set.Any(entry => entry.Object.Key.EndsWith("/" + BackupNames.ManifestName, StringComparison.Ordinal))))
            .OrderBy(set => set.Id, StringComparer.Ordinal)
            .ToList();
    }

    private async Task<Stream> OpenKeyAsync(string key, CancellationToken cancellationToken)
    {
        var response = await _s3.GetObjectAsync(new GetObjectRequest { BucketName = Bucket, Key = key }, cancellationToken);
        return new OwningStream(response.ResponseStream, response);
    }

    private async Task<List<S3Object>> ListKeysAsync(string prefix, CancellationToken cancellationToken)
    {
        var objects = new List<S3Object>();
        var request = new ListObjectsV2Request { BucketName = Bucket, Prefix = prefix };
        ListObjectsV2Response response;
        do
        {
            response = await _s3.ListObjectsV2Async(request, cancellationToken);
            objects.AddRange(response.S3Objects ?? []);
            request.ContinuationToken = response.NextContinuationToken;
        }
        while (response.IsTruncated == true);

        return objects;
    }

    private async Task DeleteKeysAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        foreach (var batch in keys.Chunk(1000))
        {
            var response = await _s3.DeleteObjectsAsync(new DeleteObjectsRequest
            {
                BucketName = Bucket,
                Objects = batch.Select(key => new KeyVersion { Key = key }).ToList(),
            }, cancellationToken);
            if (response.DeleteErrors is { Count: > 0 } errors)
            {
                throw new BackupStoreException($"S3 did not delete {errors.Count} object(s), e.g. {errors[0].Key}: {errors[0].Code} {errors[0].Message}");
            }
        }
    }

    private async Task AbortUploadAsync(string key, string uploadId)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await _s3.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = Bucket, Key = key, UploadId = uploadId }, timeout.Token);
            LogAborted(_logger, key, uploadId);
        }
        catch (Exception e)
        {
            // Nothing more to do here: the manifest is never written, and a bucket lifecycle
            // rule (AbortIncompleteMultipartUpload) sweeps what a store keeps.
            LogAbortFailed(_logger, key, uploadId, Describe(e));
        }
    }

    private void ApplyStorageSettings(PutObjectRequest request)
    {
        if (!string.IsNullOrWhiteSpace(_options.ServerSideEncryption))
        {
            request.ServerSideEncryptionMethod = ServerSideEncryptionMethod.FindValue(_options.ServerSideEncryption);
        }

        if (!string.IsNullOrWhiteSpace(_options.StorageClass))
        {
            request.StorageClass = S3StorageClass.FindValue(_options.StorageClass);
        }
    }

    private void ApplyStorageSettings(InitiateMultipartUploadRequest request)
    {
        if (!string.IsNullOrWhiteSpace(_options.ServerSideEncryption))
        {
            request.ServerSideEncryptionMethod = ServerSideEncryptionMethod.FindValue(_options.ServerSideEncryption);
        }

        if (!string.IsNullOrWhiteSpace(_options.StorageClass))
        {
            request.StorageClass = S3StorageClass.FindValue(_options.StorageClass);
        }
    }

    private static async Task<(T Result, TimeSpan Took)> TimedAsync<T>(Task<T> task)
    {
        var started = Stopwatch.GetTimestamp();
        var result = await task;
        return (result, Stopwatch.GetElapsedTime(started));
    }

    /// <summary>Reads until the buffer holds <paramref name="count"/> bytes or the source ends.</summary>
    private static async Task<int> FillAsync(Stream source, byte[] buffer, int count, CancellationToken cancellationToken)
    {
        var filled = 0;
        while (filled < count)
        {
            var read = await source.ReadAsync(buffer.AsMemory(filled, count - filled), cancellationToken);
            if (read == 0)
            {
                break;
            }

            filled += read;
        }

        return filled;
    }

    private string SetPrefix(string setId)
    {
        var prefix = _options.Prefix.Trim('/');
        return (prefix.Length == 0 ? "" : prefix + "/") + (setId.Length == 0 ? "" : CheckName(setId, "set id") + "/");
    }

    private string Key(string setId, string name) => SetPrefix(setId) + CheckName(name, "object name");

    private static string CheckName(string name, string what) =>
        BackupNames.IsSafe(name) ? name : throw new ArgumentException($"'{name}' is not a backup {what}", nameof(name));

    private static string Describe(Exception e) => e switch
    {
        AmazonServiceException service => $"{(int)service.StatusCode} {service.ErrorCode}: {service.Message}",
        TaskCanceledException or TimeoutException => $"timed out ({e.Message})",
        _ => e.Message,
    };

    public void Dispose() => _s3.Dispose();

    [LoggerMessage(Level = LogLevel.Debug, Message = "S3 {Key}: part {Part} uploaded, {Bytes} bytes")]
    private static partial void LogPart(ILogger logger, string key, int part, int bytes);

    [LoggerMessage(Level = LogLevel.Debug, Message = "S3 {Key}: part {Part} uploaded in {UploadMs} ms while the next one was read in {ReadMs} ms (the larger one sets the pace)")]
    private static partial void LogPartTimes(ILogger logger, string key, int part, long uploadMs, long readMs);

    [LoggerMessage(Level = LogLevel.Debug, Message = "S3 {Key}: verified {Bytes} bytes by {Method}")]
    private static partial void LogVerified(ILogger logger, string key, long bytes, string method);

    [LoggerMessage(Level = LogLevel.Warning, Message = "S3 {Key}: multipart upload {UploadId} aborted")]
    private static partial void LogAborted(ILogger logger, string key, string uploadId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "S3 {Key}: could not abort multipart upload {UploadId}: {Error}")]
    private static partial void LogAbortFailed(ILogger logger, string key, string uploadId, string error);

    /// <summary>SHA-256 (the manifest's) and MD5 (what stores put in ETags) of everything sent, in one place.</summary>
    private sealed class WholeHash : IDisposable
    {
#pragma warning disable CA5351 // MD5 only compares with the store's ETag, against accidental damage; SHA-256 is the set's hash.
        private readonly IncrementalHash _md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
#pragma warning restore CA5351
        private readonly IncrementalHash _sha256 = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        public void Append(byte[] buffer, int count)
        {
            _sha256.AppendData(buffer, 0, count);
            _md5.AppendData(buffer, 0, count);
        }

        public (byte[] Sha256, byte[] Md5) Finish() => (_sha256.GetHashAndReset(), _md5.GetHashAndReset());

        public void Dispose()
        {
            _md5.Dispose();
            _sha256.Dispose();
        }
    }

    /// <summary>The body of a GET, which also releases its response when closed.</summary>
    private sealed class OwningStream(Stream inner, IDisposable owner) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
                owner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
