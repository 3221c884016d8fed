using System.Text.Json;
using Microsoft.Extensions.Options;
using WebhookUpdater.Backups;
using WebhookUpdater.Tests.Support;

namespace WebhookUpdater.Tests.Backups;

public sealed class BackupManifestSignerTests
{
    public static BackupManifestSigner Signer(string key) => new(Options.Create(new BackupOptions { SigningKey = key }));

    private static readonly BackupManifest Manifest = new(
        "20240102-020000-daily-gitea-aaaaaa", BackupKinds.Daily, new DateTimeOffset(2024, 1, 2, 2, 0, 41, 123, TimeSpan.Zero), null, "gitea", null,
        [
            new BackupObject("gitea.data-1a2b3c4d.tar.gz", "gitea:/data", 5, new string('a', 64), "gitea", BackupObjectTypes.Archive, "/data"),
            new BackupObject("postgres.gitea-5e6f7a8b.pgdump", "postgres:postgres/gitea", 7, new string('b', 64), "postgres", BackupObjectTypes.PostgresDump, "gitea"),
        ]);

    [Fact]
    public void A_signed_manifest_checks_after_a_round_trip_through_the_stores_json()
    {
        var signed = Signer(TestApp.BackupSigningKey).Sign(Manifest);
        var stored = JsonSerializer.Deserialize<BackupManifest>(JsonSerializer.Serialize(signed, BackupJson.Options), BackupJson.Options)!;

        Assert.StartsWith("hmac-sha256:", stored.Signature, StringComparison.Ordinal);
        Assert.Equal(ManifestTrust.Trusted, Signer(TestApp.BackupSigningKey).Check(stored));
    }

    public static TheoryData<string> Edits() => ["container", "target", "id", "checksum", "size", "kind", "name"];

    [Theory]
    [MemberData(nameof(Edits))]
    public void Any_edit_of_a_signed_manifest_breaks_its_signature(string edit)
    {
        var signed = Signer(TestApp.BackupSigningKey).Sign(Manifest);
        var first = signed.Objects[0];
        var edited = edit switch
        {
            "container" => signed with { Objects = [first with { Container = "nginx" }, signed.Objects[1]] },
            "target" => signed with { Objects = [first with { Target = "/etc" }, signed.Objects[1]] },
            "id" => signed with { Id = "20240103-020000-daily-gitea-bbbbbb" },
            "checksum" => signed with { Objects = [first with { Sha256 = new string('c', 64) }, signed.Objects[1]] },
            "size" => signed with { Objects = [first with { Size = 6 }, signed.Objects[1]] },
            "kind" => signed with { Kind = BackupKinds.Manual },
            _ => signed with { Objects = [first with { Name = "gitea.etc.tar.gz" }, signed.Objects[1]] },
        };

        Assert.Equal(ManifestTrust.Mismatch, Signer(TestApp.BackupSigningKey).Check(edited));
    }

    [Fact]
    public void Another_installations_key_and_a_missing_signature_are_told_apart()
    {
        var foreign = Signer("another-installations-key-0123456789abcdef").Sign(Manifest);

        Assert.Equal(ManifestTrust.Mismatch, Signer(TestApp.BackupSigningKey).Check(foreign));
        Assert.Equal(ManifestTrust.NoSignature, Signer(TestApp.BackupSigningKey).Check(Manifest));
        Assert.Equal(ManifestTrust.NoSignature, Signer(TestApp.BackupSigningKey).Check(foreign with { Signature = "" }));
    }

    [Theory]
    [InlineData("", "Backups:SigningKey is required outside Development: set Backups__SigningKey_FILE")]
    [InlineData("only-31-bytes-long-0123456789ab", "Backups:SigningKey is too short (31 bytes): use at least 32")]
    public async Task A_missing_or_short_backup_signing_key_stops_the_start_with_the_fix(string value, string message)
    {
        var text = await TestApp.StartErrorAsync(() => new TestApp(new() { ["Backups:SigningKey"] = value }));

        Assert.Contains(message, text, StringComparison.Ordinal);
        if (value.Length > 0)
        {
            Assert.DoesNotContain(value, text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task The_backup_signing_key_can_come_from_a_file()
    {
        var file = Path.GetTempFileName();
        await File.WriteAllTextAsync(file, "a-backup-key-from-a-file-0123456789abcdef\n", TestContext.Current.CancellationToken);
        await using var app = new TestApp(new() { ["Backups:SigningKey"] = "", ["Backups:SigningKey_FILE"] = file });

        Assert.Equal(System.Net.HttpStatusCode.OK, (await app.CreateClient().GetAsync("/healthz", TestContext.Current.CancellationToken)).StatusCode);
        File.Delete(file);
    }
}
