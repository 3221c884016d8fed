namespace WebhookUpdater.Configuration;

/// <summary>
/// Every secret can come from the setting itself or from a file named by the same setting
/// with <c>_FILE</c> appended (<c>Webhook__Secret_FILE=/run/secrets/webhook</c>), the way
/// Docker secrets are mounted. The file wins, so a stale variable cannot shadow a rotated file.
/// </summary>
public static class SecretConfiguration
{
    public static string? ReadSecret(this IConfiguration configuration, string key)
    {
        var file = configuration[key + "_FILE"];
        if (string.IsNullOrWhiteSpace(file))
        {
            var value = configuration[key];
            return string.IsNullOrEmpty(value) ? null : value;
        }

        try
        {
            return File.ReadAllText(file).TrimEnd('\r', '\n');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The message names the setting and the path, never the content.
            throw new InvalidOperationException(
                $"Setting {key}_FILE names '{file}', which cannot be read ({e.GetType().Name}). Fix the path or the file's permissions.", e);
        }
    }
}
