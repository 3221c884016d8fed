using Microsoft.Extensions.Options;
using WebhookUpdater.Approvals;

namespace WebhookUpdater.Tests.Approvals;

public sealed class ApprovalTokenTests
{
    private const string JobId = "0199a1b2c3d4e5f60718293a4b5c6d7e";
    private const string Digest = "sha256:216a8a6e6a3f7c1f0e7c8b9a1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e";
    private static readonly DateTimeOffset Expiry = DateTimeOffset.FromUnixTimeSeconds(1_900_000_000);

    private static ApprovalTokens Tokens(string key = "a-signing-key-of-at-least-32-bytes!!") =>
        new(new StaticOptions(new ApprovalOptions { SigningKey = key }));

    [Fact]
    public void A_token_reads_back_its_job_nonce_and_expiry_and_verifies_for_its_container_and_digest()
    {
        var nonce = ApprovalTokens.NewNonce();
        var token = Tokens().Create(JobId, "gitea", Digest, nonce, Expiry);

        var claims = ApprovalTokens.Read(token);

        Assert.NotNull(claims);
        Assert.Equal(JobId, claims.JobId);
        Assert.Equal(nonce, claims.Nonce);
        Assert.Equal(Expiry, claims.ExpiresAt);
        Assert.True(Tokens().Verify(claims, "gitea", Digest));
        Assert.Matches("^[A-Za-z0-9_-]+$", token);
    }

    [Fact]
    public void A_token_is_bound_to_its_digest_its_container_and_the_key()
    {
        var claims = ApprovalTokens.Read(Tokens().Create(JobId, "gitea", Digest, ApprovalTokens.NewNonce(), Expiry))!;

        Assert.False(Tokens().Verify(claims, "gitea", Digest.Replace('2', '3')));
        Assert.False(Tokens().Verify(claims, "postgres", Digest));
        Assert.False(Tokens("another-signing-key-of-32-bytes-or-more").Verify(claims, "gitea", Digest));
    }

    [Fact]
    public void Every_changed_character_makes_the_token_unreadable_or_unverifiable()
    {
        var token = Tokens().Create(JobId, "gitea", Digest, ApprovalTokens.NewNonce(), Expiry);

        for (var i = 0; i < token.Length; i++)
        {
            var changed = token[..i] + (token[i] == 'A' ? 'B' : 'A') + token[(i + 1)..];
            var claims = ApprovalTokens.Read(changed);
            Assert.True(claims is null || !Tokens().Verify(claims, "gitea", Digest), $"a change at {i} still verifies");
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("not-a-token")]
    [InlineData("%%%")]
    [InlineData("AQ")]
    public void Garbage_is_not_a_token(string token) => Assert.Null(ApprovalTokens.Read(token));

    [Fact]
    public void An_overlong_token_is_refused_before_decoding() => Assert.Null(ApprovalTokens.Read(new string('A', 4096)));

    private sealed class StaticOptions(ApprovalOptions value) : IOptionsMonitor<ApprovalOptions>
    {
        public ApprovalOptions CurrentValue => value;

        public ApprovalOptions Get(string? name) => value;

        public IDisposable? OnChange(Action<ApprovalOptions, string?> listener) => null;
    }
}
