using System.Net;
using System.Net.Sockets;

namespace Maas.Core.Registry.Import;

/// <summary>
/// Where imports may download from, so that a caller with <c>models:write</c> cannot make the server fetch from its own
/// network (cloud metadata endpoints, databases, admin consoles): hosts on the configured allow-list (any host when it
/// is empty) and, unless private networks are allowed, only public addresses. The address check runs when each
/// connection is opened, after DNS, so redirects and DNS rebinding cannot get around it.
/// </summary>
public sealed class ImportNetworkPolicy
{
    private readonly string[] _allowedHosts;
    private readonly bool _allowPrivate;
    private readonly string _hubHost;

    /// <summary>Reads the policy from the registry options.</summary>
    public ImportNetworkPolicy(RegistryOptions options)
    {
        _allowedHosts = options.ImportAllowedHosts.Select(h => h.Trim().ToLowerInvariant()).Where(h => h.Length > 0).ToArray();
        _allowPrivate = options.ImportAllowPrivateNetworks;
        _hubHost = new Uri(options.HuggingFaceEndpoint).Host.ToLowerInvariant();
    }

    /// <summary>Throws <see cref="ImportBlockedException"/> when the URL's host is not on the allow-list.</summary>
    public void CheckHost(Uri url)
    {
        var host = url.IdnHost.ToLowerInvariant();
        if (_allowedHosts.Length == 0 || host == _hubHost || _allowedHosts.Any(pattern => Matches(pattern, host)))
        {
            return;
        }

        throw new ImportBlockedException($"imports may not download from '{url.Host}': it is not in Maas:Registry:ImportAllowedHosts ({string.Join(", ", _allowedHosts)})");
    }

    /// <summary>Checks the host, resolves it and throws <see cref="ImportBlockedException"/> when no address may be used.</summary>
    public async Task CheckAsync(Uri url, CancellationToken cancellationToken)
    {
        CheckHost(url);
        await AllowedAddressesAsync(url.IdnHost, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Opens a connection for the import HTTP client (<see cref="SocketsHttpHandler.ConnectCallback"/>), only to
    /// addresses the policy allows.
    /// </summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var addresses = await AllowedAddressesAsync(context.DnsEndPoint.Host, cancellationToken).ConfigureAwait(false);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses, context.DnsEndPoint.Port, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// True for addresses that belong to the server's own networks: loopback, private (RFC 1918, unique local),
    /// link-local (cloud metadata lives at 169.254.169.254), carrier-grade NAT, unspecified, multicast and reserved ranges.
    /// </summary>
    public static bool IsPrivate(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.Broadcast))
        {
            return true;
        }

        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            return b[0] switch
            {
                0 or 10 or 127 => true,
                100 => b[1] is >= 64 and <= 127, // carrier-grade NAT
                169 => b[1] == 254, // link-local
                172 => b[1] is >= 16 and <= 31,
                192 => (b[1] == 168) || (b[1] == 0 && b[2] == 0),
                198 => b[1] is 18 or 19, // benchmarking
                >= 224 => true, // multicast and reserved
                _ => false,
            };
        }

        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            var b = address.GetAddressBytes();
            if (address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6Multicast
                || (b[0] & 0xfe) == 0xfc // unique local fc00::/7
                || (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0) // Teredo 2001::/32: a tunnel to an IPv4 host it hides
                || (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) // documentation 2001:db8::/32
                || (b[0] == 0x01 && b.AsSpan(1, 7).IndexOfAnyExcept((byte)0) < 0) // discard-only 100::/64
                || (Prefix(b, 0x00, 0x64, 0xff, 0x9b, 0x00, 0x01))) // local-use NAT64 64:ff9b:1::/48
            {
                return true;
            }

            // Forms that carry an IPv4 address reach that address: judge them by it.
            if (EmbeddedIPv4(b) is { } inner)
            {
                return IsPrivate(inner);
            }

            return false;
        }

        return true;
    }

    // The IPv4 address inside NAT64 (64:ff9b::/96), 6to4 (2002::/16), IPv4-compatible (::a.b.c.d) and
    // IPv4-translated (::ffff:0:a.b.c.d) addresses; IPv4-mapped ones (::ffff:a.b.c.d) are mapped before this.
    private static IPAddress? EmbeddedIPv4(byte[] b)
    {
        if (Prefix(b, 0x00, 0x64, 0xff, 0x9b) && b.AsSpan(4, 8).IndexOfAnyExcept((byte)0) < 0)
        {
            return new IPAddress(b.AsSpan(12, 4));
        }

        if (b[0] == 0x20 && b[1] == 0x02)
        {
            return new IPAddress(b.AsSpan(2, 4));
        }

        if (b.AsSpan(0, 12).IndexOfAnyExcept((byte)0) < 0 && b.AsSpan(12, 4).IndexOfAnyExcept((byte)0) >= 0)
        {
            return new IPAddress(b.AsSpan(12, 4)); // ::a.b.c.d (also ::1 handled above as loopback)
        }

        if (b.AsSpan(0, 8).IndexOfAnyExcept((byte)0) < 0 && b[8] == 0xff && b[9] == 0xff && b[10] == 0 && b[11] == 0)
        {
            return new IPAddress(b.AsSpan(12, 4));
        }

        return null;
    }

    private static bool Prefix(byte[] bytes, params ReadOnlySpan<byte> prefix) => bytes.AsSpan().StartsWith(prefix);

    private async Task<IPAddress[]> AllowedAddressesAsync(string host, CancellationToken cancellationToken)
    {
        var addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        if (_allowPrivate || host.Equals(_hubHost, StringComparison.OrdinalIgnoreCase))
        {
            return addresses;
        }

        var allowed = addresses.Where(a => !IsPrivate(a)).ToArray();
        return allowed.Length > 0
            ? allowed
            : throw new ImportBlockedException(
                $"imports may not download from '{host}': it resolves to a private or local address (not shown); set Maas:Registry:ImportAllowPrivateNetworks to allow it");
    }

    private static bool Matches(string pattern, string host) =>
        pattern.StartsWith("*.", StringComparison.Ordinal)
            ? host.EndsWith(pattern[1..], StringComparison.Ordinal)
            : host == pattern;
}
