using System.Net;
using System.Net.Sockets;

namespace DatasetExport.Engine.Tests;

/// <summary>Ports for the test servers; shared with the module tests (linked file).</summary>
internal static class LoopbackPort
{
    /// <summary>A 127.0.0.1 port free now (bound, then released): for a server to listen on, or one nothing listens on.</summary>
    public static int Free()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
