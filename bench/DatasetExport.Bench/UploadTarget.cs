using System.Diagnostics;
using System.Security.Cryptography;
using DatasetExport.Engine.Destinations;

namespace DatasetExport.Bench;

/// <summary>
/// A running test server seen two ways: as the engine's destination settings and as an rclone remote for the
/// same endpoint, bucket or folder. Credentials are the emulators' well-known ones or generated per run, and are
/// written only to the temporary rclone.conf.
/// </summary>
public sealed class UploadTarget : IDisposable
{
    public const string S3 = "s3";
    public const string Azure = "azure";
    public const string Sftp = "sftp";

    private const string Container = "bench";
    // s3rver's default credentials and Azurite's documented development account key.
    private const string S3AccessKey = "S3RVER";
    private const string S3SecretKey = "S3RVER";
    private const string AzuriteAccount = "devstoreaccount1";
    private const string AzuriteKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    private const string SftpUser = "dxbench";

    private readonly IReadOnlyList<IDisposable> _owned;
    private readonly Action? _cleanup;

    private UploadTarget(string name, DestinationSettings destination, string rcloneSection, string rcloneRoot, IReadOnlyList<IDisposable> owned, Action? cleanup = null)
    {
        Name = name;
        Destination = destination;
        RcloneSection = rcloneSection;
        RcloneRoot = rcloneRoot;
        _owned = owned;
        _cleanup = cleanup;
    }

    public string Name { get; }
    public DestinationSettings Destination { get; }
    /// <summary>This remote's section of rclone.conf, named after <see cref="Name"/>.</summary>
    public string RcloneSection { get; }
    /// <summary>rclone's path of the place the engine's relative paths start from, e.g. <c>s3:bench</c>.</summary>
    public string RcloneRoot { get; }

    public static string CheckName(string name) =>
        name is S3 or Azure or Sftp ? name : throw new FormatException($"Unknown upload target '{name}'; known: s3, azure, sftp.");

    public static Task<UploadTarget> StartAsync(string name, string repository, string workFolder) => name switch
    {
        S3 => StartS3Async(repository, workFolder),
        Azure => StartAzureAsync(repository, workFolder),
        Sftp => StartSftpAsync(repository, workFolder),
        _ => throw new ArgumentException(CheckName(name)),
    };

    private static async Task<UploadTarget> StartS3Async(string repository, string workFolder)
    {
        var servers = Path.Combine(repository, "tests", "servers", "s3");
        RunScript(Path.Combine(servers, "install.sh"));
        var data = Fresh(Path.Combine(workFolder, "s3rver"));
        var port = TestServer.FreePort();
        var server = await TestServer.StartAsync("s3rver", port, Path.Combine(servers, "node_modules", ".bin", "s3rver"),
            ["-d", data, "-a", "127.0.0.1", "-p", port.ToString(), "--silent", "--configure-bucket", Container],
            data + ".log", p => TestServer.AnswersHttpAsync(p, "/"));
        var endpoint = $"http://127.0.0.1:{port}";
        var destination = Settings("bench-s3", DestinationType.AmazonS3);
        destination.Properties[DestinationKeys.Endpoint] = endpoint;
        destination.Properties[DestinationKeys.Bucket] = Container;
        destination.Properties[DestinationKeys.Region] = "us-east-1";
        destination.Properties[DestinationKeys.AccessKeyId] = S3AccessKey;
        destination.Secrets[DestinationKeys.SecretAccessKey] = S3SecretKey;
        var section = $"""
            [{S3}]
            type = s3
            provider = Other
            env_auth = false
            access_key_id = {S3AccessKey}
            secret_access_key = {S3SecretKey}
            endpoint = {endpoint}
            region = us-east-1
            force_path_style = true
            """;
        return new UploadTarget(S3, destination, section, $"{S3}:{Container}", [server]);
    }

    private static async Task<UploadTarget> StartAzureAsync(string repository, string workFolder)
    {
        var servers = Path.Combine(repository, "tests", "servers", "azure");
        RunScript(Path.Combine(servers, "install.sh"));
        var data = Fresh(Path.Combine(workFolder, "azurite"));
        var port = TestServer.FreePort();
        var server = await TestServer.StartAsync("azurite", port, Path.Combine(servers, "node_modules", ".bin", "azurite-blob"),
            ["--blobHost", "127.0.0.1", "--blobPort", port.ToString(), "--location", data, "--skipApiVersionCheck", "--disableTelemetry", "--silent"],
            data + ".log", p => TestServer.AnswersHttpAsync(p, $"/{AzuriteAccount}?comp=list"));
        var serviceUri = $"http://127.0.0.1:{port}/{AzuriteAccount}";
        var destination = Settings("bench-azure", DestinationType.AzureBlob);
        destination.Properties[DestinationKeys.AccountName] = AzuriteAccount;
        destination.Properties[DestinationKeys.ServiceUri] = serviceUri;
        destination.Properties[DestinationKeys.Container] = Container;
        destination.Secrets[DestinationKeys.AccountKey] = AzuriteKey;
        // Debian's rclone 1.60 takes "endpoint" as a host suffix (https://ACCOUNT.SUFFIX), which cannot name
        // 127.0.0.1:PORT; an account SAS URL can.
        var section = $"""
            [{Azure}]
            type = azureblob
            sas_url = {serviceUri}?{AccountSas(AzuriteAccount, AzuriteKey)}
            """;
        return new UploadTarget(Azure, destination, section, $"{Azure}:{Container}", [server]);
    }

    /// <summary>An account SAS (version 2019-12-12) for blobs, valid one day, signed with the account key.</summary>
    private static string AccountSas(string account, string key)
    {
        const string version = "2019-12-12", permissions = "rwdlacup", protocols = "https,http";
        var expiry = DateTime.UtcNow.AddDays(1).ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);
        var toSign = string.Join('\n', account, permissions, "b", "sco", "", expiry, "", protocols, version, "");
        var signature = Convert.ToBase64String(HMACSHA256.HashData(Convert.FromBase64String(key), System.Text.Encoding.UTF8.GetBytes(toSign)));
        return $"sv={version}&ss=b&srt=sco&sp={permissions}&se={Uri.EscapeDataString(expiry)}&spr={protocols}&sig={Uri.EscapeDataString(signature)}";
    }

    private static async Task<UploadTarget> StartSftpAsync(string repository, string workFolder)
    {
        var servers = Path.Combine(repository, "tests", "servers", "sftp");
        RunScript(Path.Combine(servers, "install.sh"));
        var root = Fresh(Path.Combine(workFolder, "sftp"));
        var password = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        RunScript(Path.Combine(servers, "prepare.sh"), [root, SftpUser], password + "\n",
            ("KEY_PASSPHRASE", Convert.ToHexString(RandomNumberGenerator.GetBytes(16))));
        Action cleanup = () => RunScript(Path.Combine(servers, "cleanup.sh"), [SftpUser]);
        try
        {
            var port = TestServer.FreePort();
            var server = await TestServer.StartAsync("sshd", port, "bash", [Path.Combine(servers, "start.sh"), root, SftpUser, port.ToString()],
                Path.Combine(workFolder, "sshd.log"), TestServer.AnswersSshAsync);
            var hostKey = Path.Combine(root, "hostkeys", "host_ed25519.pub");
            var pin = RunScript("ssh-keygen", ["-lf", hostKey]).Split(' ')[1];
            var knownHosts = Path.Combine(root, "known_hosts");
            var publicKey = File.ReadAllText(hostKey).Split(' ');
            File.WriteAllText(knownHosts, $"[127.0.0.1]:{port} {publicKey[0]} {publicKey[1]}\n");
            var uploads = Path.Combine(root, "home", SftpUser);

            var destination = Settings("bench-sftp", DestinationType.Sftp);
            destination.Properties[DestinationKeys.HostName] = "127.0.0.1";
            destination.Properties[DestinationKeys.Port] = port.ToString();
            destination.Properties[DestinationKeys.UserName] = SftpUser;
            destination.Properties[DestinationKeys.RemotePath] = uploads;
            destination.Properties[DestinationKeys.HostKeyFingerprint] = pin;
            destination.Secrets[DestinationKeys.Password] = password;
            var section = $"""
                [{Sftp}]
                type = sftp
                host = 127.0.0.1
                port = {port}
                user = {SftpUser}
                pass = {RunScript("rclone", ["obscure", password]).Trim()}
                known_hosts_file = {knownHosts}
                shell_type = none
                md5sum_command = none
                sha1sum_command = none
                """;
            return new UploadTarget(Sftp, destination, section, $"{Sftp}:{uploads}", [server], cleanup);
        }
        catch
        {
            cleanup();
            throw;
        }
    }

    private static DestinationSettings Settings(string name, DestinationType type) => new()
    {
        Name = name,
        Type = type,
        IncludeManifest = false,
    };

    private static string Fresh(string folder)
    {
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        return Directory.CreateDirectory(folder).FullName;
    }

    /// <summary>
    /// Runs a script or tool to completion and returns its standard output; throws with its output when it fails.
    /// <paramref name="environment"/> sets variables, or removes those given a null value.
    /// </summary>
    public static string RunScript(string command, IReadOnlyList<string>? arguments = null, string? input = null, params (string Name, string? Value)[] environment)
    {
        var start = new ProcessStartInfo(command.EndsWith(".sh", StringComparison.Ordinal) ? "bash" : command)
        {
            UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = input is not null,
        };
        if (command.EndsWith(".sh", StringComparison.Ordinal)) start.ArgumentList.Add(command);
        foreach (var argument in arguments ?? []) start.ArgumentList.Add(argument);
        foreach (var (name, value) in environment)
        {
            if (value is null) start.Environment.Remove(name);
            else start.Environment[name] = value;
        }
        using var process = Process.Start(start)!;
        if (input is not null)
        {
            process.StandardInput.Write(input);
            process.StandardInput.Close();
        }
        var error = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"{Path.GetFileName(command)} failed (exit code {process.ExitCode}): {error.Result}{output}");
        return output;
    }

    public void Dispose()
    {
        foreach (var owned in _owned) owned.Dispose();
        _cleanup?.Invoke();
    }
}
