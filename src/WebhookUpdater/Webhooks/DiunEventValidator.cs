using System.Globalization;
using FluentValidation;
using WebhookUpdater.Containers;

namespace WebhookUpdater.Webhooks;

public sealed partial class DiunEventValidator : AbstractValidator<DiunEvent>
{
    public static readonly string[] Statuses = ["new", "update"];

    public DiunEventValidator()
    {
        RuleFor(e => e.Status)
            .Must(status => Statuses.Contains(status, StringComparer.Ordinal))
            .OverridePropertyName("status")
            .WithMessage(e => string.IsNullOrEmpty(e.Status)
                ? "'status' is required: one of new, update."
                : $"'status' is '{Clip(e.Status)}': allowed values are new, update.");

        RuleFor(e => e.Provider)
            .NotEmpty()
            .OverridePropertyName("provider")
            .WithMessage("'provider' is required (Diun sends e.g. docker, file, kubernetes).");

        RuleFor(e => e.Image)
            .Custom((image, context) =>
            {
                if (!ImageReference.TryParse(image, out _, out var error))
                {
                    context.AddFailure("image", $"'image': {Clip(error, 200)}.");
                }
            });

        RuleFor(e => e.Digest)
            .Matches(DigestPattern())
            .OverridePropertyName("digest")
            .WithMessage(e => string.IsNullOrEmpty(e.Digest)
                ? "'digest' is required: sha256: followed by 64 hexadecimal characters."
                : "'digest' must be sha256: followed by 64 hexadecimal characters.");

        RuleFor(e => e.Created)
            .Must(created => created is null || DateTimeOffset.TryParse(created, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out _))
            .OverridePropertyName("created")
            .WithMessage("'created' must be an RFC 3339 timestamp, e.g. 2024-10-15T19:58:44Z.");

        RuleFor(e => e.HubLink)
            .Must(link => link is null || link.Length == 0 || Uri.TryCreate(link, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
            .OverridePropertyName("hub_link")
            .WithMessage("'hub_link' must be an absolute http(s) URL.");
    }

    /// <summary>Echoes a bad value back shortened, so an answer never grows with the attacker's input.</summary>
    private static string Clip(string value, int length = 40) => value.Length <= length ? value : value[..length] + "…";

    [System.Text.RegularExpressions.GeneratedRegex("^sha256:[a-f0-9]{64}$")]
    private static partial System.Text.RegularExpressions.Regex DigestPattern();
}
