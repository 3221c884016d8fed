using Microsoft.Extensions.Options;
using WebhookUpdater.Persistence;

namespace WebhookUpdater.Notifications.Senders;

/// <summary>
/// The embedded default: each message becomes &lt;id&gt;.eml in a folder, readable by any mail
/// client. Written to a temporary name and renamed, so a file there is always whole; sending the
/// same message again replaces its file instead of adding a second one.
/// </summary>
internal sealed class EmlFolderSender(IOptionsMonitor<EmailOptions> options, IOptions<StoreOptions> store) : IEmailSender
{
    public string Name => "outbox";

    public async Task<string?> SendAsync(OutgoingEmail email, CancellationToken cancellationToken)
    {
        var directory = options.CurrentValue.ResolveOutboxDirectory(store.Value);
        try
        {
            Directory.CreateDirectory(directory);
            var path = Path.Combine(directory, email.Id + ".eml");
            var temporary = path + ".tmp";
            await using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 4096, FileOptions.WriteThrough))
            {
                await MimeMessages.Build(email).WriteToAsync(file, cancellationToken);
            }

            File.Move(temporary, path, overwrite: true);
            return path;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new EmailSendException($"could not write to {directory} ({e.GetType().Name}): check Email:OutboxDirectory and its permissions", transient: true, inner: e);
        }
    }
}
