using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace WebhookUpdater.Approvals;

/// <summary>What a token says, once its structure has been read (not yet its signature).</summary>
public sealed record ApprovalClaims(string JobId, string Nonce, DateTimeOffset ExpiresAt, byte[] Payload, byte[] Mac);

/// <summary>
/// Approval tokens: base64url(payload ‖ HMAC-SHA256(key, payload ‖ 0 ‖ container ‖ 0 ‖ digest)), with
/// payload = version ‖ job id ‖ 16-byte nonce ‖ expiry. The container and the digest are not in
/// the link but in the MAC: a token verifies only against the job it was issued for, with the
/// exact digest it was issued for. The nonce makes it single-use (one approval row per nonce).
/// </summary>
public sealed class ApprovalTokens(IOptionsMonitor<ApprovalOptions> options)
{
    private const byte Version = 1;
    private const int NonceBytes = 16;
    private const int MaxTokenLength = 512;

    public static string NewNonce() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(NonceBytes));

    public string Create(string jobId, string container, string digest, string nonce, DateTimeOffset expiresAt)
    {
        var id = Encoding.UTF8.GetBytes(jobId);
        if (id.Length is 0 or > 255)
        {
            throw new ArgumentException("A job id is 1 to 255 bytes.", nameof(jobId));
        }

        var payload = new byte[1 + 1 + id.Length + NonceBytes + 8];
        payload[0] = Version;
        payload[1] = (byte)id.Length;
        id.CopyTo(payload, 2);
        Convert.FromHexString(nonce).CopyTo(payload, 2 + id.Length);
        BinaryPrimitives.WriteInt64BigEndian(payload.AsSpan(2 + id.Length + NonceBytes), expiresAt.ToUnixTimeSeconds());

        var mac = Mac(payload, container, digest);
        return Base64Url.EncodeToString([.. payload, .. mac]);
    }

    /// <summary>Reads the structure; null for anything that is not a token of this service.</summary>
    public static ApprovalClaims? Read(string? token)
    {
        if (string.IsNullOrEmpty(token) || token.Length > MaxTokenLength)
        {
            return null;
        }

        byte[] bytes;
        try
        {
            bytes = Base64Url.DecodeFromChars(token);
        }
        catch (FormatException)
        {
            return null;
        }

        // A re-encoding that differs means bits the decoder ignored were changed: not ours.
        if (bytes.Length < 2 || bytes[0] != Version || Base64Url.EncodeToString(bytes) != token)
        {
            return null;
        }

        var idLength = bytes[1];
        var payloadLength = 2 + idLength + NonceBytes + 8;
        if (idLength == 0 || bytes.Length != payloadLength + HMACSHA256.HashSizeInBytes)
        {
            return null;
        }

        string jobId;
        try
        {
            jobId = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes, 2, idLength);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }

        var nonce = Convert.ToHexStringLower(bytes.AsSpan(2 + idLength, NonceBytes));
        var seconds = BinaryPrimitives.ReadInt64BigEndian(bytes.AsSpan(2 + idLength + NonceBytes, 8));
        if (seconds < 0 || seconds > DateTimeOffset.MaxValue.ToUnixTimeSeconds())
        {
            return null;
        }

        return new ApprovalClaims(jobId, nonce, DateTimeOffset.FromUnixTimeSeconds(seconds), bytes[..payloadLength], bytes[payloadLength..]);
    }

    /// <summary>True when the signature is this service's, for this container and digest (constant time).</summary>
    public bool Verify(ApprovalClaims claims, string container, string digest) =>
        CryptographicOperations.FixedTimeEquals(Mac(claims.Payload, container, digest), claims.Mac);

    private byte[] Mac(byte[] payload, string container, string digest)
    {
        var data = new List<byte>(payload.Length + container.Length + digest.Length + 2);
        data.AddRange(payload);
        data.Add(0);
        data.AddRange(Encoding.UTF8.GetBytes(container));
        data.Add(0);
        data.AddRange(Encoding.UTF8.GetBytes(digest));
        return HMACSHA256.HashData(options.CurrentValue.KeyBytes, data.ToArray());
    }
}
