using System.Text.Json;

namespace WebhookUpdater.Webhooks;

public sealed record DiunEventReadResult(DiunEvent? Event, IDictionary<string, string[]> Errors);

/// <summary>
/// Reads Diun's JSON by hand rather than through a serializer, so that every field of the
/// wrong type is named in one answer, in Diun's own spelling.
/// </summary>
public static class DiunEventReader
{
    private static readonly string[] StringFields =
        ["diun_version", "hostname", "status", "provider", "image", "hub_link", "mime_type", "digest", "created", "platform"];

    public static DiunEventReadResult Read(ReadOnlyMemory<byte> body)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            var where = e.LineNumber is { } line ? $" (line {line + 1}, byte {e.BytePositionInLine + 1})" : "";
            return Fail("body", $"The body is not valid JSON{where}. Send Diun's webhook payload as a JSON object.");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return Fail("body", $"The body is a JSON {Describe(root.ValueKind)}; expected an object with Diun's fields (status, provider, image, digest, …).");
            }

            var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
            var values = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var field in StringFields)
            {
                if (!root.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
                {
                    values[field] = null;
                }
                else if (value.ValueKind == JsonValueKind.String)
                {
                    values[field] = value.GetString();
                }
                else
                {
                    errors[field] = [$"'{field}' must be a string, not a {Describe(value.ValueKind)}."];
                }
            }

            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            if (root.TryGetProperty("metadata", out var meta) && meta.ValueKind != JsonValueKind.Null)
            {
                if (meta.ValueKind != JsonValueKind.Object)
                {
                    errors["metadata"] = [$"'metadata' must be an object of strings, not a {Describe(meta.ValueKind)}."];
                }
                else
                {
                    foreach (var entry in meta.EnumerateObject())
                    {
                        switch (entry.Value.ValueKind)
                        {
                            case JsonValueKind.String:
                                metadata[entry.Name] = entry.Value.GetString()!;
                                break;
                            case JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False:
                                metadata[entry.Name] = entry.Value.GetRawText();
                                break;
                            case JsonValueKind.Null:
                                break;
                            default:
                                errors[$"metadata.{entry.Name}"] = [$"'metadata.{entry.Name}' must be a string, not a {Describe(entry.Value.ValueKind)}."];
                                break;
                        }
                    }
                }
            }

            if (errors.Count > 0)
            {
                return new DiunEventReadResult(null, errors);
            }

            return new DiunEventReadResult(
                new DiunEvent(
                    values["diun_version"], values["hostname"], values["status"] ?? "", values["provider"] ?? "",
                    values["image"] ?? "", values["hub_link"], values["mime_type"], values["digest"] ?? "",
                    values["created"], values["platform"], metadata),
                errors);
        }
    }

    private static DiunEventReadResult Fail(string field, string message) =>
        new(null, new Dictionary<string, string[]> { [field] = [message] });

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        _ => "null",
    };
}
