using WebhookUpdater.Containers;
using WebhookUpdater.Updates;

namespace WebhookUpdater.Tests.Updates;

public sealed class DependentLabelsTests
{
    private static ContainerInfo Container(string name, params (string Key, string Value)[] labels) =>
        new(name + "-id", name, "img", "sha256:x", "running", true, false, 0, 0, null,
            labels.ToDictionary(label => label.Key, label => label.Value), [], []);

    [Fact]
    public void A_container_naming_another_in_update_requires_depends_on_it()
    {
        var postgres = Container("postgres");
        var gitea = Container("gitea", (DependentLabels.Requires, "postgres, redis"));
        var nginx = Container("nginx", (DependentLabels.Requires, "gitea"));

        Assert.Equal(["gitea"], DependentLabels.DependentsOf(postgres, [postgres, gitea, nginx]));
        Assert.Equal(["nginx"], DependentLabels.DependentsOf(gitea, [postgres, gitea, nginx]));
        Assert.Empty(DependentLabels.DependentsOf(nginx, [postgres, gitea, nginx]));
    }

    [Fact]
    public void Compose_depends_on_and_update_requires_name_a_service_of_the_same_project()
    {
        var postgres = Container("stack-postgres-1", (DependentLabels.ComposeProject, "stack"), (DependentLabels.ComposeService, "postgres"));
        var gitea = Container("stack-gitea-1", (DependentLabels.ComposeProject, "stack"), (DependentLabels.ComposeDependsOn, "postgres:service_healthy:false,cache:service_started:true"));
        var other = Container("other-gitea-1", (DependentLabels.ComposeProject, "other"), (DependentLabels.ComposeDependsOn, "postgres:service_healthy:false"));
        var labelled = Container("stack-web-1", (DependentLabels.ComposeProject, "stack"), (DependentLabels.Requires, "postgres"));
        var elsewhere = Container("other-web-1", (DependentLabels.ComposeProject, "other"), (DependentLabels.Requires, "postgres"));

        Assert.Equal(["stack-gitea-1", "stack-web-1"], DependentLabels.DependentsOf(postgres, [postgres, gitea, other, labelled, elsewhere]));
    }
}
