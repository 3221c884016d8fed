using Mono.Cecil;
using Mono.Cecil.Cil;

namespace WebhookUpdater.Tests.Architecture;

/// <summary>
/// Reads the service's compiled IL: which feature namespace (WebhookUpdater.X) each type's
/// signatures, attributes and method bodies refer to. Nested and compiler-made types (lambdas,
/// async state machines) count for the namespace of the type they are declared in.
/// </summary>
public sealed class FeatureDependencyTests
{
    private const string Root = "WebhookUpdater";

    private static readonly Lazy<Dictionary<string, IReadOnlyDictionary<string, string>>> Graph = new(Read);

    /// <summary>Feature → the features it uses, each with one type that shows it (for the message).</summary>
    private static Dictionary<string, IReadOnlyDictionary<string, string>> Read()
    {
        using var module = ModuleDefinition.ReadModule(typeof(WebhookUpdater.Updates.JobStore).Assembly.Location);
        var graph = new Dictionary<string, Dictionary<string, string>>(StringComparer.Ordinal);
        foreach (var type in module.Types.SelectMany(Flatten))
        {
            if (Feature(type) is not { } from)
            {
                continue;
            }

            var uses = graph.TryGetValue(from, out var found) ? found : graph[from] = new(StringComparer.Ordinal);
            foreach (var used in References(type))
            {
                if (Feature(used) is { } to && to != from)
                {
                    uses.TryAdd(to, $"{type.FullName} uses {used.FullName}");
                }
            }
        }

        return graph.ToDictionary(pair => pair.Key, pair => (IReadOnlyDictionary<string, string>)pair.Value, StringComparer.Ordinal);
    }

    private static IEnumerable<TypeDefinition> Flatten(TypeDefinition type) => type.NestedTypes.SelectMany(Flatten).Prepend(type);

    /// <summary>The feature of a type: the namespace segment after the root, of the outermost declaring type.</summary>
    private static string? Feature(TypeReference type)
    {
        while (type is TypeSpecification specification)
        {
            type = specification.ElementType;
        }

        while (type.DeclaringType is { } outer)
        {
            type = outer;
        }

        var parts = type.Namespace.Split('.');
        return parts.Length >= 2 && parts[0] == Root ? parts[1] : null;
    }

    private static List<TypeReference> References(TypeDefinition type)
    {
        var found = new List<TypeReference>();
        void Add(TypeReference? reference)
        {
            if (reference is null)
            {
                return;
            }

            found.Add(reference);
            if (reference is GenericInstanceType generic)
            {
                generic.GenericArguments.ToList().ForEach(Add);
            }
            else if (reference is TypeSpecification specification)
            {
                Add(specification.ElementType);
            }
        }

        void Attributes(ICustomAttributeProvider provider)
        {
            foreach (var attribute in provider.CustomAttributes)
            {
                Add(attribute.AttributeType);
                attribute.ConstructorArguments.Select(argument => argument.Value as TypeReference).ToList().ForEach(Add);
            }
        }

        void Method(MethodReference method)
        {
            Add(method.DeclaringType);
            Add(method.ReturnType);
            method.Parameters.Select(parameter => parameter.ParameterType).ToList().ForEach(Add);
            if (method is GenericInstanceMethod generic)
            {
                generic.GenericArguments.ToList().ForEach(Add);
            }
        }

        Add(type.BaseType);
        type.Interfaces.Select(implemented => implemented.InterfaceType).ToList().ForEach(Add);
        Attributes(type);
        foreach (var field in type.Fields)
        {
            Add(field.FieldType);
            Attributes(field);
        }

        foreach (var property in type.Properties)
        {
            Add(property.PropertyType);
            Attributes(property);
        }

        foreach (var method in type.Methods)
        {
            Method(method);
            Attributes(method);
            if (!method.HasBody)
            {
                continue;
            }

            method.Body.Variables.Select(variable => variable.VariableType).ToList().ForEach(Add);
            foreach (var instruction in method.Body.Instructions)
            {
                switch (instruction.Operand)
                {
                    case TypeReference reference:
                        Add(reference);
                        break;
                    case MethodReference called:
                        Method(called);
                        break;
                    case FieldReference field:
                        Add(field.DeclaringType);
                        Add(field.FieldType);
                        break;
                }
            }
        }

        return found;
    }

    [Fact]
    public void No_two_features_depend_on_each_other_even_through_others()
    {
        var graph = Graph.Value;
        var cycles = new List<string>();
        foreach (var start in graph.Keys.Order(StringComparer.Ordinal))
        {
            if (FindPath(graph, start, start) is { } path && path.Min(StringComparer.Ordinal) == start)
            {
                var links = path.Zip(path.Skip(1), (from, to) => graph[from][to]);
                cycles.Add($"{string.Join(" -> ", path)} ({string.Join("; ", links)})");
            }
        }

        Assert.True(cycles.Count == 0, "Feature namespaces depend on each other in a circle:\n" + string.Join("\n", cycles));
    }

    [Fact]
    public void Persistence_knows_no_feature()
    {
        var uses = Graph.Value.GetValueOrDefault("Persistence") ?? new Dictionary<string, string>();
        var features = uses.Where(pair => pair.Key != "Configuration").Select(pair => pair.Value).ToList();

        Assert.True(features.Count == 0, "Persistence holds the database, migrations and generic helpers only:\n" + string.Join("\n", features));
    }

    [Fact]
    public void The_check_sees_the_dependencies_that_exist()
    {
        var graph = Graph.Value;

        Assert.Contains("Persistence", graph["Updates"].Keys);
        Assert.Contains("Updates", graph["Webhooks"].Keys);
        Assert.Contains("Containers", graph["Backups"].Keys);
    }

    /// <summary>The shortest path of features from <paramref name="from"/> back to <paramref name="to"/>, or null.</summary>
    private static List<string>? FindPath(IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> graph, string from, string to)
    {
        var cameFrom = new Dictionary<string, string>(StringComparer.Ordinal);
        var queue = new Queue<string>([from]);
        while (queue.TryDequeue(out var at))
        {
            foreach (var next in graph.GetValueOrDefault(at)?.Keys ?? [])
            {
                if (next == to)
                {
                    var path = new List<string> { to, at };
                    while (cameFrom.TryGetValue(path[^1], out var before))
                    {
                        path.Add(before);
                    }

                    path.Reverse();
                    return path;
                }

                if (next != from && cameFrom.TryAdd(next, at))
                {
                    queue.Enqueue(next);
                }
            }
        }

        return null;
    }
}
