using System.Globalization;
using System.Text;
using WebhookUpdater.Notifications;

namespace WebhookUpdater.Certificates;

/// <summary>A renewal the operator must hear about: it failed, nginx kept the old certificates, or one expires soon.</summary>
public sealed record CertificateNotification(string Kind, RenewalReport Report) : Notification(Kind)
{
    public const string RenewalFailed = "certificate-renewal-failed";
    public const string NginxNotReloaded = "certificate-nginx-not-reloaded";
    public const string Expiring = "certificate-expiring";

    public IReadOnlyList<CertificateChange> ExpiringCertificates => Report.Certificates.Where(c => c.ExpiresSoon).ToList();

    public override string Subject => Kind switch
    {
        RenewalFailed when Report.Outcome == RenewalOutcomes.Unverified => "Certificate renewal not verified: the certificates could not be read after certbot ran",
        RenewalFailed => Report.Certbot is { } certbot
            ? $"Certificate renewal failed: certbot {(certbot.TimedOut ? "timed out" : $"exited with {certbot.ExitCode}")}"
            : "Certificate renewal could not run",
        NginxNotReloaded => $"Certificates renewed but nginx still serves the old ones ({Report.Nginx.Action})",
        Expiring => ExpiringCertificates.Count == 1
            ? $"Certificate {ExpiringCertificates[0].Name} expires in {ExpiringCertificates[0].DaysLeft} days"
            : $"{ExpiringCertificates.Count} certificates expire within {ExpiringCertificates.Min(c => c.DaysLeft)} days",
        _ => $"Certificate renewal: {Report.Outcome}",
    };

    public override string Summary
    {
        get
        {
            var text = new StringBuilder();
            text.AppendLine(CultureInfo.InvariantCulture, $"Renewal run ({Report.Trigger}) at {Report.StartedAt:u}: {Report.Outcome}.");
            if (Report.Problem is { Length: > 0 } problem)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"Problem: {problem}");
            }

            text.AppendLine();
            text.AppendLine("Certificates:");
            foreach (var certificate in Report.Certificates)
            {
                var soon = certificate.ExpiresSoon ? $" (in {certificate.DaysLeft} days)" : "";
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"- {certificate.Name} ({string.Join(", ", certificate.Domains)}): {certificate.Status}, expires {certificate.NewExpiry?.ToString("u", CultureInfo.InvariantCulture) ?? "?"}{soon}");
            }

            if (Report.Certificates.Count == 0)
            {
                text.AppendLine("- none could be read");
            }

            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"nginx: {Report.Nginx.Action}{(Report.Nginx.Container is null ? "" : $" ({Report.Nginx.Container})")}");
            if (Report.Nginx.Output is { Length: > 0 } nginxOutput && Kind == NginxNotReloaded)
            {
                text.AppendLine(nginxOutput.TrimEnd());
            }

            if (Report.Certbot is { } certbot)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"certbot: exit code {certbot.ExitCode}{(certbot.TimedOut ? " (killed at the timeout)" : "")}, image {certbot.Image}");
                if (Kind == RenewalFailed)
                {
                    text.AppendLine("Last lines of certbot's output:");
                    text.AppendLine(certbot.OutputTail.TrimEnd());
                }
            }

            text.AppendLine();
            text.AppendLine(Kind switch
            {
                RenewalFailed => "Fix the cause above, then run: curl -X POST -H 'Authorization: Bearer <admin token>' <service>/api/certificates/renew",
                NginxNotReloaded => "Fix nginx's configuration (docker exec <nginx> nginx -t shows what is wrong), then reload it: docker exec <nginx> nginx -s reload",
                Expiring => "Renewal has not replaced these yet: check certbot's output in earlier notices, or renew by hand.",
                _ => "",
            });
            return text.ToString();
        }
    }
}
