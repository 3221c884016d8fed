using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using WebhookUpdater.Persistence;
using WebhookUpdater.Updates;

namespace WebhookUpdater.TestHost;

/// <summary>
/// Runs the service's own entry point, and adds the test's decorators when its host is built
/// (the same hook WebApplicationFactory uses). WU_TEST_HANG_AFTER_PHASE names the phase
/// after which the update pipeline stops, waiting to be killed.
/// </summary>
internal static class TestHostEntry
{
    public static async Task<int> Main(string[] args)
    {
        var hangAfter = Environment.GetEnvironmentVariable("WU_TEST_HANG_AFTER_PHASE");
        var phase = UpdateVocabulary.ParsePhase(hangAfter);
        if (!string.IsNullOrEmpty(hangAfter) && phase is null)
        {
            await Console.Error.WriteLineAsync($"WU_TEST_HANG_AFTER_PHASE={hangAfter} is not a phase; use one of {string.Join(", ", Enum.GetValues<UpdatePhase>().Select(p => p.ToText()))}");
            return 2;
        }

        using var subscription = DiagnosticListener.AllListeners.Subscribe(new HostBuildingObserver(services =>
        {
            if (phase is { } hang)
            {
                services.RemoveAll<IUpdateJournal>();
                services.AddSingleton<IUpdateJournal>(provider => new HangingJournal(provider.GetRequiredService<JobStore>(), hang));
            }
        }));

        var entryPoint = typeof(UpdatePipeline).Assembly.EntryPoint ?? throw new InvalidOperationException("the service has no entry point");
        var result = entryPoint.Invoke(null, [args]);
        if (result is Task task)
        {
            await task;
        }

        return Environment.ExitCode;
    }

    private sealed class HostBuildingObserver(Action<IServiceCollection> configure) : IObserver<DiagnosticListener>, IObserver<KeyValuePair<string, object?>>
    {
        public void OnNext(DiagnosticListener value)
        {
            if (value.Name == "Microsoft.Extensions.Hosting")
            {
                value.Subscribe(this);
            }
        }

        public void OnNext(KeyValuePair<string, object?> value)
        {
            if (value is { Key: "HostBuilding", Value: IHostBuilder builder })
            {
                builder.ConfigureServices((_, services) => configure(services));
            }
        }

        public void OnCompleted()
        {
        }

        public void OnError(Exception error)
        {
        }
    }
}
