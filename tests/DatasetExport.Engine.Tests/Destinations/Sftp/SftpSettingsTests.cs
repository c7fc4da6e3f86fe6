using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Sftp;

namespace DatasetExport.Engine.Tests.Destinations.Sftp;

/// <summary>Settings checks that need no server: they fail when the destination is created.</summary>
public sealed class SftpSettingsTests
{
    private const string Pin = "SHA256:7U7HhoxxmcTyaQ1WDZuRMskOzgoBr6oMHlcEMkqwMJk";

    private static DestinationSettings Valid() => new()
    {
        Name = "files",
        Type = DestinationType.Sftp,
        Properties =
        {
            [DestinationKeys.HostName] = "sftp.example.com",
            [DestinationKeys.UserName] = "exporter",
            [DestinationKeys.RemotePath] = "/upload",
            [DestinationKeys.HostKeyFingerprint] = Pin,
        },
        Secrets = { [DestinationKeys.Password] = "s3cret-value" },
    };

    private static DestinationException Rejected(Action<DestinationSettings> change)
    {
        var settings = Valid();
        change(settings);
        var error = Assert.Throws<DestinationException>(() => new SftpDestination(settings));
        Assert.Equal(DestinationFailure.InvalidConfiguration, error.Failure);
        Assert.DoesNotContain("s3cret-value", error.Message, StringComparison.Ordinal);
        return error;
    }

    [Fact]
    public void Host_user_and_a_credential_are_required()
    {
        Assert.Contains("HostName", Rejected(s => s.Properties.Remove(DestinationKeys.HostName)).Message, StringComparison.Ordinal);
        Assert.Contains("UserName", Rejected(s => s.Properties[DestinationKeys.UserName] = " ").Message, StringComparison.Ordinal);
        Assert.Contains("Password or a KeyFile", Rejected(s => s.Secrets.Clear()).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("65536")]
    [InlineData("22a")]
    [InlineData("-1")]
    public void Port_must_be_a_tcp_port(string port) =>
        Assert.Contains($"Port '{port}'", Rejected(s => s.Properties[DestinationKeys.Port] = port).Message, StringComparison.Ordinal);

    [Theory]
    [InlineData("MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48")]
    [InlineData("SHA256:tooshort")]
    [InlineData("256 SHA256:7U7HhoxxmcTyaQ1WDZuRMskOzgoBr6oMHlcEMkqwMJk host (ED25519)")]
    public void The_pin_must_be_a_sha256_fingerprint(string pin) =>
        Assert.Contains("SHA256", Rejected(s => s.Properties[DestinationKeys.HostKeyFingerprint] = pin).Message, StringComparison.Ordinal);

    [Theory]
    [InlineData("7U7HhoxxmcTyaQ1WDZuRMskOzgoBr6oMHlcEMkqwMJk")]
    [InlineData("SHA256:7U7HhoxxmcTyaQ1WDZuRMskOzgoBr6oMHlcEMkqwMJk=")]
    [InlineData(" SHA256:7U7HhoxxmcTyaQ1WDZuRMskOzgoBr6oMHlcEMkqwMJk ")]
    public void The_pin_may_omit_its_prefix_or_carry_base64_padding(string pin)
    {
        var settings = Valid();
        settings.Properties[DestinationKeys.HostKeyFingerprint] = pin;
        _ = new SftpDestination(settings);
    }

    [Fact]
    public void Remote_path_cannot_climb()
    {
        Assert.Contains("RemotePath", Rejected(s => s.Properties[DestinationKeys.RemotePath] = "/upload/../etc").Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("../x.json")]
    [InlineData("a/../../x.json")]
    [InlineData("/etc/passwd")]
    [InlineData("a//b.json")]
    [InlineData("")]
    public async Task Relative_paths_stay_inside_the_destination(string relativePath)
    {
        await using var destination = new SftpDestination(Valid());
        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.GetFileInfoAsync(relativePath, default));
        Assert.Equal(DestinationFailure.InvalidConfiguration, error.Failure);
        Assert.Throws<DestinationException>(() => destination.GetSinkPath(relativePath));
    }

    [Theory]
    [InlineData("/upload", "exports", "sftp://exporter@sftp.example.com:22/upload/exports/d/f.json")]
    [InlineData("/", "", "sftp://exporter@sftp.example.com:22/d/f.json")]
    [InlineData("", "", "sftp://exporter@sftp.example.com:22/~/d/f.json")]
    [InlineData("~/in/", "x/y", "sftp://exporter@sftp.example.com:22/~/in/x/y/d/f.json")]
    [InlineData("in", "", "sftp://exporter@sftp.example.com:22/~/in/d/f.json")]
    public async Task Sink_paths_are_sftp_uris(string remotePath, string folderPath, string expected)
    {
        var settings = Valid();
        settings.Properties[DestinationKeys.RemotePath] = remotePath;
        settings.FolderPath = folderPath;
        await using var destination = new SftpDestination(settings);
        Assert.Equal(expected, destination.GetSinkPath("d/f.json"));
    }

    [Fact]
    public async Task Sink_paths_bracket_ipv6_hosts_and_show_the_port()
    {
        var settings = Valid();
        settings.Properties[DestinationKeys.HostName] = "::1";
        settings.Properties[DestinationKeys.Port] = "2222";
        await using var destination = new SftpDestination(settings);
        Assert.Equal("sftp://exporter@[::1]:2222/upload/f.json", destination.GetSinkPath("f.json"));
    }

    [Fact]
    public void The_registry_creates_sftp_destinations()
    {
        Assert.True(DestinationRegistry.IsSupported(DestinationType.Sftp));
    }
}
