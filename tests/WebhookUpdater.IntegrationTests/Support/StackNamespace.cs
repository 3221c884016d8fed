using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace WebhookUpdater.IntegrationTests.Support;

/// <summary>
/// Engine S and its network namespace (scripts/testenv/stack-engine.sh): the stack's bridge
/// network and published ports exist only in there, so every request of a stack test is made
/// from a socket opened inside the namespace, which has no route out of it.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal static partial class StackNamespace
{
    private const int NewNetworkNamespace = 0x40000000; // CLONE_NEWNET

    public static string DockerHost =>
        Environment.GetEnvironmentVariable("WU_TEST_STACK_DOCKER_HOST") is { Length: > 0 } host ? host : "unix:///run/wu-stack/docker.sock";

    public static string Path =>
        Environment.GetEnvironmentVariable("WU_TEST_STACK_NETNS") is { Length: > 0 } path ? path : "/run/netns/wu-stack";

    public static string SocketPath => new Uri(DockerHost).LocalPath;

    /// <summary>Addresses the namespace holds on its loopback link, for callers that must differ.</summary>
    public static IPAddress Client(int n) => IPAddress.Parse($"192.0.2.{n}");

    public static void Require()
    {
        if (!File.Exists(Path) || !File.Exists(SocketPath))
        {
            TestEnvironment.Unavailable($"Engine S in network namespace {Path} ({SocketPath}; scripts/testenv/stack-engine.sh starts it)");
        }
    }

    /// <summary>
    /// An HTTP client whose connections are opened inside the namespace, to <paramref name="target"/>
    /// whatever host the URL names (so the URL, Host and SNI are the public ones), from
    /// <paramref name="from"/> when given; TLS only with the certificate of SHA-256 <paramref name="pinned"/>.
    /// </summary>
    public static HttpClient Http(IPEndPoint target, IPAddress? from = null, string? pinned = null, bool redirects = false)
    {
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = redirects,
            UseCookies = false,
            PooledConnectionLifetime = TimeSpan.FromSeconds(30),
            SslOptions = { RemoteCertificateValidationCallback = (_, certificate, _, _) => pinned is not null && certificate?.GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256) == pinned },
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = OpenSocket(target.AddressFamily);
                try
                {
                    if (from is not null)
                    {
                        socket.Bind(new IPEndPoint(from, 0));
                    }

                    await socket.ConnectAsync(target, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        return new HttpClient(handler, disposeHandler: true) { Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <summary>
    /// A TCP socket made inside the namespace. A socket keeps the namespace it was made in, and
    /// setns moves only the calling thread: so a thread of its own, which ends right after.
    /// </summary>
    public static Socket OpenSocket(AddressFamily family)
    {
        Socket? socket = null;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var ns = File.OpenHandle(Path);
                if (SetNs((int)ns.DangerousGetHandle(), NewNetworkNamespace) != 0)
                {
                    throw new IOException($"setns({Path}) failed: errno {Marshal.GetLastPInvokeError()}");
                }

                socket = new Socket(family, SocketType.Stream, ProtocolType.Tcp);
            }
            catch (Exception e) when (e is IOException or SocketException or UnauthorizedAccessException)
            {
                error = e;
            }
        });
        thread.Start();
        thread.Join();
        return socket ?? throw new InvalidOperationException($"no socket inside {Path}", error);
    }

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNs(int fd, int nstype);
}
