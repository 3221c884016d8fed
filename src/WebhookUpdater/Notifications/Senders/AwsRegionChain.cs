using Amazon.Runtime;
using Amazon.Runtime.CredentialManagement;

namespace WebhookUpdater.Notifications.Senders;

/// <summary>
/// The AWS SDK's region lookup: AWS_REGION, then AWS_DEFAULT_REGION, then the region of the
/// profile (AWS_PROFILE, else default) in the shared config files. The variables are read through
/// the host's configuration (which holds the environment); the SDK's last step, EC2 instance
/// metadata, is left out: off EC2 it is a network call that stalls the start.
/// </summary>
internal static class AwsRegionChain
{
    public static string? Resolve(IConfiguration configuration)
    {
        foreach (var variable in new[] { "AWS_REGION", "AWS_DEFAULT_REGION" })
        {
            if (!string.IsNullOrWhiteSpace(configuration[variable]))
            {
                return configuration[variable]!.Trim();
            }
        }

        try
        {
            return new ProfileAWSRegion(new CredentialProfileStoreChain()).Region?.SystemName;
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }
}
