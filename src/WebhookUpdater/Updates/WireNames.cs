using System.Collections.Frozen;
using System.Reflection;
using System.Text.Json.Serialization;

namespace WebhookUpdater.Updates;

/// <summary>
/// An enum's names as its <see cref="JsonStringEnumMemberNameAttribute"/>s spell them, both ways:
/// the journal stores the same words the JSON answers carry.
/// </summary>
internal static class WireNames<TEnum> where TEnum : struct, Enum
{
    public static readonly FrozenDictionary<TEnum, string> ByValue = Enum.GetValues<TEnum>().ToFrozenDictionary(
        value => value,
        value => typeof(TEnum).GetField(value.ToString())!.GetCustomAttribute<JsonStringEnumMemberNameAttribute>()?.Name
                 ?? throw new InvalidOperationException($"{typeof(TEnum).Name}.{value} has no JsonStringEnumMemberName."));

    public static readonly FrozenDictionary<string, TEnum> ByName =
        ByValue.ToFrozenDictionary(entry => entry.Value, entry => entry.Key, StringComparer.Ordinal);
}
