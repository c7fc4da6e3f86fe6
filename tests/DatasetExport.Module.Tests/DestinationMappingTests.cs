using System.Collections;
using System.Management.Automation;
using System.Text;

namespace DatasetExport.Module.Tests;

/// <summary>
/// New-ExportDestination maps each type's parameters to the property and secret names the destination classes read
/// (DestinationKeys). Stored with -SkipValidation: the servers behind them are tested by the destinations' own tests.
/// </summary>
public sealed class DestinationMappingTests
{
    private const string SecretAccessKey = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYSECRET";
    private const string SftpPassword = "correct-horse-battery-SECRET";
    private const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    private const string SasSignature = "sv=2024-08-04&sr=c&sp=rcwl&sig=SECRETSIGNATURE%3D";

    [Fact]
    public void AmazonS3_maps_bucket_region_endpoint_and_access_key_id()
    {
        using var session = new ModuleSession();
        var destination = Create(session, """
            New-ExportDestination -Name s3 -Type AmazonS3 -Bucket exports -Region eu-west-1 -Endpoint http://127.0.0.1:9000 -Credential $args[0] -SkipValidation
            """, ModuleSurfaceTests.Credential("AKIAEXAMPLE", SecretAccessKey));

        AssertSettings(destination, ("Bucket", "exports"), ("Region", "eu-west-1"), ("Endpoint", "http://127.0.0.1:9000/"), ("AccessKeyId", "AKIAEXAMPLE"));
        Assert.Equal("AKIAEXAMPLE", destination.Properties["Credential"].Value);
        Assert.Equal("s3://exports", destination.Properties["Location"].Value);
    }

    [Fact]
    public void AmazonS3_maps_profile_and_role()
    {
        using var session = new ModuleSession();
        var destination = Create(session, """
            New-ExportDestination -Name s3 -Type AmazonS3 -Bucket b -Region us-east-1 -ProfileName backup -RoleArn arn:aws:iam::123456789012:role/export -ExternalId ext-1 -SkipValidation
            """);

        AssertSettings(destination, ("Bucket", "b"), ("Region", "us-east-1"), ("ProfileName", "backup"), ("RoleArn", "arn:aws:iam::123456789012:role/export"), ("ExternalId", "ext-1"));
        Assert.Null(destination.Properties["Credential"].Value);

        var withoutRole = session.Run("New-ExportDestination -Name s4 -Type AmazonS3 -Bucket b -Region us-east-1 -ExternalId ext-1 -SkipValidation");
        ExportPipelineTests.AssertError(withoutRole, "InvalidDestinationParameter", "NewExportDestinationCommand", ErrorCategory.InvalidArgument, "s4");
    }

    [Fact]
    public void GoogleCloudStorage_takes_bucket_and_hmac_credential()
    {
        using var session = new ModuleSession();
        var destination = Create(session, """
            New-ExportDestination -Name gcs -Type GoogleCloudStorage -Bucket archive -Credential $args[0] -SkipValidation
            """, ModuleSurfaceTests.Credential("GOOG1EHMACID", SecretAccessKey));

        Assert.Equal("GoogleCloudStorage", destination.Properties["Type"].Value.ToString());
        AssertSettings(destination, ("Bucket", "archive"), ("AccessKeyId", "GOOG1EHMACID"));
        Assert.Equal("gs://archive", destination.Properties["Location"].Value);

        // The engine signs with Region ("auto" when absent); -SigningRegion sets it.
        var signed = Create(session, """
            New-ExportDestination -Name gcs2 -Type GoogleCloudStorage -Bucket archive -SigningRegion us-east-1 -Endpoint http://127.0.0.1:9000 -Credential $args[0] -SkipValidation
            """, ModuleSurfaceTests.Credential("GOOG1EHMACID", SecretAccessKey));
        AssertSettings(signed, ("Bucket", "archive"), ("Region", "us-east-1"), ("Endpoint", "http://127.0.0.1:9000/"), ("AccessKeyId", "GOOG1EHMACID"));
    }

    [Fact]
    public void AzureBlob_maps_each_way_to_sign_in()
    {
        using var session = new ModuleSession();
        var connectionString = Secure($"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AccountKey};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;");

        var byConnectionString = Create(session, "New-ExportDestination -Name a1 -Type AzureBlob -Container c1 -ConnectionString $args[0] -SkipValidation", connectionString);
        AssertSettings(byConnectionString, ("Container", "c1"));
        Assert.Equal("****", byConnectionString.Properties["Credential"].Value);

        var byAccountKey = Create(session, "New-ExportDestination -Name a2 -Type AzureBlob -Container c2 -AccountName devstoreaccount1 -Credential $args[0] -ServiceUri http://127.0.0.1:10000/devstoreaccount1 -SkipValidation",
            ModuleSurfaceTests.Credential("devstoreaccount1", AccountKey));
        AssertSettings(byAccountKey, ("Container", "c2"), ("AccountName", "devstoreaccount1"), ("ServiceUri", "http://127.0.0.1:10000/devstoreaccount1"));
        Assert.Equal("****", byAccountKey.Properties["Credential"].Value);
        Assert.Equal("http://127.0.0.1:10000/devstoreaccount1/c2", byAccountKey.Properties["Location"].Value);

        var bySas = Create(session, "New-ExportDestination -Name a3 -Type AzureBlob -Container c3 -SasUri ([uri]$args[0]) -SkipValidation",
            "https://acct.blob.core.windows.net/c3?" + SasSignature);
        AssertSettings(bySas, ("Container", "c3"));
        Assert.Equal("****", bySas.Properties["Credential"].Value);

        var byServicePrincipal = Create(session, "New-ExportDestination -Name a4 -Type AzureBlob -Container c4 -AccountName acct -TenantId 72f988bf-0000-0000-0000-2d7cd011db47 -Credential $args[0] -SkipValidation",
            ModuleSurfaceTests.Credential("11111111-2222-3333-4444-555555555555", AccountKey));
        AssertSettings(byServicePrincipal, ("Container", "c4"), ("AccountName", "acct"), ("TenantId", "72f988bf-0000-0000-0000-2d7cd011db47"), ("ClientId", "11111111-2222-3333-4444-555555555555"));
        Assert.Equal("11111111-2222-3333-4444-555555555555", byServicePrincipal.Properties["Credential"].Value);

        var byDefaultChain = Create(session, "New-ExportDestination -Name a5 -Type AzureBlob -Container c5 -AccountName acct -SkipValidation");
        AssertSettings(byDefaultChain, ("Container", "c5"), ("AccountName", "acct"));
        Assert.Null(byDefaultChain.Properties["Credential"].Value);
        Assert.Equal("https://acct.blob.core.windows.net/c5", byDefaultChain.Properties["Location"].Value);
    }

    [Fact]
    public void AzureDataLakeGen2_parses_abfss_urls()
    {
        using var session = new ModuleSession();
        var byUrl = Create(session, "New-ExportDestination -Name l1 -Type AzureDataLakeGen2 -Url abfss://raw@datalake01.dfs.core.windows.net -Credential $args[0] -SkipValidation",
            ModuleSurfaceTests.Credential("datalake01", AccountKey));
        AssertSettings(byUrl, ("AccountName", "datalake01"), ("FileSystem", "raw"));
        Assert.Equal("abfss://raw@datalake01.dfs.core.windows.net", byUrl.Properties["Location"].Value);
        Assert.Equal("", byUrl.Properties["FolderPath"].Value);

        // A path in the URL is the export folder; -FolderPath goes below it. Account names are case-insensitive.
        var withPath = Create(session, "New-ExportDestination -Name l4 -Type AzureDataLakeGen2 -Url abfss://raw@DataLake01.dfs.core.windows.net/exports/daily -FolderPath sales -Credential $args[0] -SkipValidation",
            ModuleSurfaceTests.Credential("datalake01", AccountKey));
        AssertSettings(withPath, ("AccountName", "datalake01"), ("FileSystem", "raw"));
        Assert.Equal("exports/daily/sales", withPath.Properties["FolderPath"].Value);

        var byServicePrincipal = Create(session, "New-ExportDestination -Name l2 -Type AzureDataLakeGen2 -AccountName datalake02 -FileSystem curated -TenantId t-1 -Credential $args[0] -SkipValidation",
            ModuleSurfaceTests.Credential("client-1", AccountKey));
        AssertSettings(byServicePrincipal, ("AccountName", "datalake02"), ("FileSystem", "curated"), ("TenantId", "t-1"), ("ClientId", "client-1"));

        var badUrl = session.Run("New-ExportDestination -Name l3 -Type AzureDataLakeGen2 -Url https://datalake01.blob.core.windows.net/raw -SkipValidation");
        ExportPipelineTests.AssertError(badUrl, "InvalidDestinationParameter", "NewExportDestinationCommand", ErrorCategory.InvalidArgument, "l3");
        Assert.Equal("Url", ((ArgumentException)badUrl.Errors[0].Exception).ParamName);

        // The engine's parser also checks the names in the URL.
        var badFileSystem = session.Run("New-ExportDestination -Name l5 -Type AzureDataLakeGen2 -Url abfss://Raw_Data@datalake01.dfs.core.windows.net -SkipValidation");
        ExportPipelineTests.AssertError(badFileSystem, "InvalidDestinationParameter", "NewExportDestinationCommand", ErrorCategory.InvalidArgument, "l5");
        Assert.Contains("Raw_Data", badFileSystem.Errors[0].Exception.Message);
        Assert.Equal(["l1", "l2", "l4"], session.Run("Get-ExportDestination | ForEach-Object Name").AssertNoErrors().Output.Select(o => (string)o.BaseObject));
    }

    [Fact]
    public void DataLandingZone_takes_the_container_from_its_sas_uri()
    {
        using var session = new ModuleSession();
        var destination = Create(session, "New-ExportDestination -Name dlz -Type DataLandingZone -SasUri $args[0] -SkipValidation",
            Secure("http://127.0.0.1:10000/devstoreaccount1/landing?" + SasSignature));

        AssertSettings(destination, ("ServiceUri", "http://127.0.0.1:10000/devstoreaccount1/landing"), ("Container", "landing"));
        Assert.Equal("****", destination.Properties["Credential"].Value);

        var noSignature = session.Run("New-ExportDestination -Name dlz2 -Type DataLandingZone -SasUri $args[0] -SkipValidation", Secure("https://acct.blob.core.windows.net/landing"));
        ExportPipelineTests.AssertError(noSignature, "InvalidDestinationParameter", "NewExportDestinationCommand", ErrorCategory.InvalidArgument, "dlz2");

        // user:password@ in a SAS URI is refused as -SasUri's problem (it was reported as the derived ServiceUri's), unquoted.
        foreach (var type in new[] { "DataLandingZone", "AzureBlob -Container c" })
        {
            var withUser = session.Run($"New-ExportDestination -Name dlz3 -Type {type} -SasUri $args[0] -SkipValidation",
                Secure("https://admin:hunter2pw@acct.blob.core.windows.net/landing?" + SasSignature));
            ExportPipelineTests.AssertError(withUser, "InvalidDestinationParameter", "NewExportDestinationCommand", ErrorCategory.InvalidArgument, "dlz3");
            Assert.Equal("SasUri", ((PSArgumentException)withUser.Errors[0].Exception).ParamName);
            Assert.DoesNotContain("hunter2pw", withUser.Errors[0].ToString());
        }
        Assert.Single(session.Run("Get-ExportDestination").AssertNoErrors().Output);
    }

    [Fact]
    public void Sftp_maps_password_and_key_file_sign_in()
    {
        using var session = new ModuleSession();
        var byPassword = Create(session, "New-ExportDestination -Name s1 -Type Sftp -HostName 127.0.0.1 -Port 2222 -Credential $args[0] -RemotePath /upload -HostKeyFingerprint SHA256:abc+/def= -SkipValidation",
            ModuleSurfaceTests.Credential("exporter", SftpPassword));
        AssertSettings(byPassword, ("HostName", "127.0.0.1"), ("Port", "2222"), ("UserName", "exporter"), ("RemotePath", "/upload"), ("HostKeyFingerprint", "SHA256:abc+/def="));
        Assert.Equal("exporter", byPassword.Properties["Credential"].Value);
        Assert.Equal("sftp://127.0.0.1:2222/upload", byPassword.Properties["Location"].Value);
        Assert.Equal("SHA256:abc+/def=", byPassword.Properties["HostKeyFingerprint"].Value);

        var keyFile = session.Work.Combine("id_ed25519");
        File.WriteAllText(keyFile, "not parsed by the cmdlet");
        var byKey = Create(session, "New-ExportDestination -Name s2 -Type Sftp -HostName sftp.example.org -KeyFile $args[0] -HostKeyFingerprint SHA256:xyz= -SkipValidation", keyFile);
        AssertSettings(byKey, ("HostName", "sftp.example.org"), ("Port", "22"), ("UserName", Environment.UserName), ("KeyFile", keyFile), ("HostKeyFingerprint", "SHA256:xyz="));

        var missingKey = session.Run("New-ExportDestination -Name s3 -Type Sftp -HostName h -KeyFile $args[0] -HostKeyFingerprint SHA256:xyz= -SkipValidation", session.Work.Combine("missing"));
        ExportPipelineTests.AssertError(missingKey, "InvalidDestinationParameter", "NewExportDestinationCommand", ErrorCategory.InvalidArgument, "s3");

        // The key itself given as -KeyFile is refused without being quoted back.
        const string keyText = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUSECRETKEYBODY\n-----END OPENSSH PRIVATE KEY-----\n";
        var pastedKey = session.Run("New-ExportDestination -Name s4 -Type Sftp -HostName h -KeyFile $args[0] -HostKeyFingerprint SHA256:xyz= -SkipValidation", keyText);
        ExportPipelineTests.AssertError(pastedKey, "InvalidDestinationParameter", "NewExportDestinationCommand", ErrorCategory.InvalidArgument, "s4");
        Assert.Contains("path of a private key file", pastedKey.Errors[0].Exception.Message);
        Assert.DoesNotContain(pastedKey.Errors, e => e.ToString().Contains("SECRETKEYBODY") || e.Exception.ToString().Contains("SECRETKEYBODY"));
        Assert.DoesNotContain(session.Run("Get-ExportDestination").AssertNoErrors().Output, d => (string)d.Properties["Name"].Value == "s4");
    }

    [Fact]
    public void Sftp_without_a_host_key_pin_cannot_skip_validation()
    {
        using var session = new ModuleSession();
        // The pin is recorded while validating; without validation the destination could never connect.
        var unpinned = session.Run("New-ExportDestination -Name s1 -Type Sftp -HostName 127.0.0.1 -Credential $args[0] -SkipValidation",
            ModuleSurfaceTests.Credential("exporter", SftpPassword));

        ExportPipelineTests.AssertError(unpinned, "InvalidDestinationParameter", "NewExportDestinationCommand", ErrorCategory.InvalidArgument, "s1");
        Assert.Equal("HostKeyFingerprint", ((ArgumentException)unpinned.Errors[0].Exception).ParamName);
        Assert.Contains("-HostKeyFingerprint", unpinned.Errors[0].Exception.Message);
        Assert.Empty(session.Run("Get-ExportDestination").AssertNoErrors().Output);

        // Other destination types need no pin.
        Assert.Null(Create(session, "New-ExportDestination -Name l -Type Local -Path $args[0] -SkipValidation", session.Work.Combine("out")).Properties["HostKeyFingerprint"].Value);
    }

    [Fact]
    public void Secrets_never_appear_in_output_streams_or_state_files()
    {
        using var session = new ModuleSession();
        // Every endpoint is a closed port on 127.0.0.1, so Test-ExportDestination's failure messages are searched too.
        var result = session.Run("""
            param($S3Credential, $SftpCredential, $ConnectionString, $SasUri)
            New-ExportDestination -Name s3 -Type AmazonS3 -Bucket b -Region eu-west-1 -Endpoint http://127.0.0.1:1 -Credential $S3Credential -SkipValidation -Verbose
            New-ExportDestination -Name sftp -Type Sftp -HostName 127.0.0.1 -Port 1 -Credential $SftpCredential -HostKeyFingerprint SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU= -SkipValidation -Verbose
            New-ExportDestination -Name blob -Type AzureBlob -Container c -ConnectionString $ConnectionString -SkipValidation -Verbose
            New-ExportDestination -Name dlz -Type DataLandingZone -SasUri $SasUri -SkipValidation -Verbose
            New-ExportDestination -Name bad -Type DataLandingZone -SasUri ('not a uri ' + $SasUri) -SkipValidation
            Get-ExportDestination
            Get-ExportDestination | ForEach-Object { $_.ToString(); $_.Settings.Values; $_.Credential }
            Get-ExportDestination | Set-ExportDestination -MaxFileSizeMB 64 -SkipValidation -PassThru -Verbose
            Get-ExportDestination | Test-ExportDestination
            """,
            ModuleSurfaceTests.Credential("AKIAEXAMPLE", SecretAccessKey),
            ModuleSurfaceTests.Credential("exporter", SftpPassword),
            Secure($"DefaultEndpointsProtocol=http;AccountName=acct;AccountKey={AccountKey};BlobEndpoint=http://127.0.0.1:1/acct;"),
            "http://127.0.0.1:1/acct/landing?" + SasSignature);

        Assert.NotEmpty(result.Output);
        var badUri = Assert.Single(result.Errors, e => e.TargetObject as string == "bad");
        Assert.Equal("InvalidDestinationParameter,DatasetExport.Commands.NewExportDestinationCommand", badUri.FullyQualifiedErrorId);
        // Nothing listens on 127.0.0.1:1: each test fails as ConnectionError, naming its destination.
        var unreachable = result.Errors.Where(e => e.FullyQualifiedErrorId.EndsWith(",DatasetExport.Commands.TestExportDestinationCommand")).ToList();
        Assert.Equal(["blob", "dlz", "s3", "sftp"], unreachable.Select(e => (string)e.TargetObject).Order());
        Assert.All(unreachable, e => Assert.True(e.CategoryInfo.Category == ErrorCategory.ConnectionError, $"{e.TargetObject}: {e.CategoryInfo.Category} {e.Exception.Message}"));
        Assert.Equal(unreachable.Count + 1, result.Errors.Count); // and 'bad': no other errors
        var everything = new StringBuilder();
        foreach (var item in result.Output) PropertyText.Flatten(item, everything);
        foreach (var error in result.Errors) everything.AppendLine(error.ToString()).AppendLine(error.Exception.ToString()).AppendLine(error.TargetObject?.ToString());
        foreach (var line in result.OtherStreams) everything.AppendLine(line);
        foreach (var progress in result.Progress) everything.AppendLine(progress.ToString());
        everything.AppendLine(session.Host.Text);
        foreach (var file in Directory.EnumerateFiles(session.Home.Path, "*", SearchOption.AllDirectories))
        {
            everything.AppendLine(Encoding.UTF8.GetString(File.ReadAllBytes(file)));
        }

        var text = everything.ToString();
        Assert.Contains("AKIAEXAMPLE", text); // the key id is shown, so the search does see the objects
        foreach (var secret in new[] { SecretAccessKey, SftpPassword, AccountKey, "SECRETSIGNATURE" })
        {
            Assert.DoesNotContain(secret, text);
        }
    }

    private static ScriptResult Run(ModuleSession session, string script, params object?[] args) => session.Run(script, args).AssertNoErrors();

    private static PSObject Create(ModuleSession session, string script, params object?[] args)
    {
        var created = Assert.Single(Run(session, script, args).Output);
        var name = (string)created.Properties["Name"].Value;
        // What Get- shows later must be what New- returned.
        var stored = Assert.Single(Run(session, "Get-ExportDestination -Name $args[0]", name).Output);
        Assert.Equal(Settings(created), Settings(stored));
        return stored;
    }

    private static void AssertSettings(PSObject destination, params (string Key, string Value)[] expected) =>
        Assert.Equal(expected.ToDictionary(e => e.Key, e => e.Value), Settings(destination));

    private static Dictionary<string, string> Settings(PSObject destination) =>
        ((IEnumerable)destination.Properties["Settings"].Value).Cast<KeyValuePair<string, string>>().ToDictionary(p => p.Key, p => p.Value);

    private static System.Security.SecureString Secure(string text)
    {
        var secure = new System.Security.SecureString();
        foreach (var c in text) secure.AppendChar(c);
        return secure;
    }
}
