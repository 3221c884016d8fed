using WebhookUpdater.Backups;

namespace WebhookUpdater.Tests.Backups;

public sealed class BackupNamesTests
{
    [Theory]
    [InlineData("20240101-020000-daily-gitea-abc123", "daily", "gitea")]
    [InlineData("20240101-020000-pre-update-my-postgres-abc123", "pre-update", "my-postgres")]
    [InlineData("20240101-020000-manual-wu-it-1_2-abc123", "manual", "wu-it-1_2")]
    [InlineData("not-a-set", null, null)]
    public void A_set_id_tells_its_kind_and_container_without_a_manifest(string id, string? kind, string? container)
    {
        Assert.Equal(kind, BackupNames.KindOf(id));
        Assert.Equal(container, BackupNames.ContainerOf(id));
    }

    [Fact]
    public void New_set_ids_sort_by_time_and_are_safe_keys()
    {
        var earlier = BackupNames.NewSetId(new DateTimeOffset(2024, 1, 1, 23, 0, 0, TimeSpan.Zero), BackupKinds.Daily, "gitea/web");
        var later = BackupNames.NewSetId(new DateTimeOffset(2024, 1, 2, 1, 0, 0, TimeSpan.Zero), BackupKinds.Daily, "gitea/web");

        Assert.True(string.CompareOrdinal(earlier, later) < 0);
        Assert.True(BackupNames.IsSafe(earlier));
        Assert.StartsWith("20240101-230000-daily-gitea_web-", earlier, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("..")]
    [InlineData("a/b")]
    [InlineData(".hidden")]
    [InlineData("")]
    public void Names_that_could_escape_the_set_are_refused(string name) => Assert.False(BackupNames.IsSafe(name));

    [Fact]
    public void Paths_that_fold_to_the_same_readable_name_get_different_object_names()
    {
        var dotted = BackupNames.ObjectName("gitea", BackupObjectTypes.Archive, "/data/a.b");
        var underscored = BackupNames.ObjectName("gitea", BackupObjectTypes.Archive, "/data/a_b");
        var longOne = BackupNames.ObjectName("gitea", BackupObjectTypes.Archive, "/data/" + new string('x', 80) + "/one");
        var longTwo = BackupNames.ObjectName("gitea", BackupObjectTypes.Archive, "/data/" + new string('x', 80) + "/two");

        Assert.StartsWith("gitea.data_a_b-", dotted, StringComparison.Ordinal);
        Assert.EndsWith(".tar.gz", dotted, StringComparison.Ordinal);
        Assert.NotEqual(dotted, underscored);
        Assert.NotEqual(longOne, longTwo);
        Assert.All(new[] { dotted, underscored, longOne, longTwo }, name => Assert.True(BackupNames.IsSafe(name), name));
        Assert.Equal(dotted, BackupNames.ObjectName("gitea", BackupObjectTypes.Archive, "/data/a.b"));
        Assert.NotEqual(BackupNames.ObjectName("db", BackupObjectTypes.PostgresDump, "a.b"), BackupNames.ObjectName("db", BackupObjectTypes.PostgresDump, "a_b"));
    }
}
