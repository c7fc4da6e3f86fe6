using System.Security.Cryptography;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.S3;

namespace DatasetExport.Engine.Tests.Destinations.S3;

/// <summary>
/// What every S3-protocol destination must do, run against a real server. Each subclass is one destination kind
/// on one server. Multipart kicks in above 6 MiB with 5 MiB parts (the S3 minimum), so a 12 MiB file has 3 parts.
/// </summary>
public abstract class S3DestinationContract : IDisposable
{
    internal static readonly S3TransferOptions SmallParts = new() { MultipartThreshold = 6L << 20, PartSize = 5L << 20, MaxPartsInFlight = 2 };
    private const long MultipartFileSize = (12L << 20) + 12345;

    protected S3DestinationContract(S3ServersFixture servers)
    {
        Servers = servers;
    }

    protected S3ServersFixture Servers { get; }
    protected TempFolder Work { get; } = new("de-s3-test");

    /// <summary>The independent client for the server this subclass writes to.</summary>
    protected abstract Boto3 Server { get; }
    protected abstract string UriScheme { get; }

    /// <summary>A destination of this kind on this server; <paramref name="endpoint"/> replaces the server's URL.</summary>
    internal abstract S3ProtocolDestination Create(string bucket, string folderPath, S3TransferOptions? transfer = null, Uri? endpoint = null);

    /// <summary>Checks, where the server tells, that a large file really went up in <paramref name="parts"/> parts.</summary>
    protected virtual void AssertUploadedInParts(string etag, int parts)
    {
    }

    public void Dispose() => Work.Dispose();

    [Fact]
    public async Task Files_of_every_size_read_back_byte_for_byte_with_an_independent_client()
    {
        var bucket = await Servers.NewBucketAsync(Server);
        await using var destination = Create(bucket, "exports", SmallParts);
        long[] sizes = [0, 1, 100_000, SmallParts.MultipartThreshold, MultipartFileSize];

        foreach (var size in sizes)
        {
            var local = WriteRandomFile($"file-{size}.bin", size);
            await destination.UploadFileAsync(local, $"sizes/file-{size}.bin", default);

            var (sha256, storedSize) = await Server.ReadAsync(bucket, $"exports/sizes/file-{size}.bin", Work.Combine($"read-{size}.bin"));
            Assert.Equal(Sha256Of(local), sha256);
            Assert.Equal(size, storedSize);
            Assert.Equal(new StoredFileInfo($"sizes/file-{size}.bin", size), await destination.GetFileInfoAsync($"sizes/file-{size}.bin", default));
        }

        var (_, etag) = (await Server.HeadAsync(bucket, $"exports/sizes/file-{MultipartFileSize}.bin"))!.Value;
        AssertUploadedInParts(etag, parts: 3);
    }

    [Fact]
    public async Task Keys_are_the_folder_path_and_the_relative_path_with_normalized_slashes()
    {
        var bucket = await Servers.NewBucketAsync(Server);
        var local = WriteRandomFile("part.json", 10);
        await using (var nested = Create(bucket, @"\exports//daily\", SmallParts))
        {
            await nested.UploadFileAsync(local, "web/exportTime=202601020304/part-00000.json", default);
            Assert.Equal($"{UriScheme}://{bucket}/exports/daily/web/exportTime=202601020304/part-00000.json",
                nested.GetSinkPath("web/exportTime=202601020304/part-00000.json"));
        }
        await using (var atRoot = Create(bucket, "", SmallParts))
        {
            await atRoot.UploadFileAsync(local, "/top.json", default);
            Assert.Equal($"{UriScheme}://{bucket}/top.json", atRoot.GetSinkPath("top.json"));
        }

        var keys = await Server.ListAsync(bucket);
        Assert.Equal(["exports/daily/web/exportTime=202601020304/part-00000.json", "top.json"], keys.Keys.Order());
    }

    [Fact]
    public async Task Stored_files_can_be_measured_read_and_deleted()
    {
        var bucket = await Servers.NewBucketAsync(Server);
        await using var destination = Create(bucket, "exports", SmallParts);
        var local = WriteRandomFile("data.bin", 70_000);
        await destination.UploadFileAsync(local, "a/data.bin", default);

        Assert.Equal(70_000, (await destination.GetFileInfoAsync("a/data.bin", default))!.Size);
        await using (var stream = await destination.OpenReadAsync("a/data.bin", default))
        {
            Assert.Equal(Sha256Of(local), Convert.ToHexStringLower(await SHA256.HashDataAsync(stream)));
        }

        await destination.DeleteAsync("a/data.bin", default);
        Assert.Null(await destination.GetFileInfoAsync("a/data.bin", default));
        Assert.Null(await Server.HeadAsync(bucket, "exports/a/data.bin"));
        await destination.DeleteAsync("a/data.bin", default);

        var missing = await Assert.ThrowsAsync<DestinationException>(() => destination.OpenReadAsync("a/data.bin", default));
        Assert.Equal(DestinationFailure.NotFound, missing.Failure);
        Assert.Contains($"{UriScheme}://{bucket}/exports/a/data.bin", missing.Message);
    }

    [Fact]
    public async Task A_missing_bucket_is_reported_as_not_found()
    {
        var bucket = "missing-" + Guid.NewGuid().ToString("N");
        await using var destination = Create(bucket, "exports", SmallParts);
        var local = WriteRandomFile("x.bin", 100);

        var upload = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(local, "x.bin", default));
        var info = await Assert.ThrowsAsync<DestinationException>(() => destination.GetFileInfoAsync("x.bin", default));
        var read = await Assert.ThrowsAsync<DestinationException>(() => destination.OpenReadAsync("x.bin", default));

        foreach (var error in new[] { upload, info, read })
        {
            Assert.Equal(DestinationFailure.NotFound, error.Failure);
            Assert.Contains($"bucket '{bucket}' does not exist", error.Message);
        }
    }

    [Fact]
    public async Task A_missing_bucket_fails_a_multipart_upload_before_any_part()
    {
        var bucket = "missing-" + Guid.NewGuid().ToString("N");
        await using var destination = Create(bucket, "exports", SmallParts);
        var local = WriteRandomFile("big.bin", MultipartFileSize);

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(local, "big.bin", default));
        Assert.Equal(DestinationFailure.NotFound, error.Failure);
    }

    [Fact]
    public async Task An_endpoint_where_nothing_listens_is_unreachable()
    {
        var closed = S3ServersFixture.ClosedPortUrl();
        await using var destination = Create("any-bucket", "exports", SmallParts, closed);
        var local = WriteRandomFile("x.bin", 100);

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(local, "x.bin", default));
        Assert.Equal(DestinationFailure.Unreachable, error.Failure);
        Assert.Contains($"127.0.0.1:{closed.Port}", error.Message);
    }

    [Fact]
    public async Task A_failed_TLS_handshake_is_unreachable_and_says_TLS()
    {
        // An https:// URL for a plain-HTTP server: the client's TLS handshake gets an HTTP answer.
        var plainHttp = new UriBuilder(Servers.S3rverUrl) { Scheme = "https" }.Uri;
        await using var destination = Create("any-bucket", "exports", SmallParts, plainHttp);

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.GetFileInfoAsync("x.bin", default));
        Assert.Equal(DestinationFailure.Unreachable, error.Failure);
        Assert.Contains("TLS", error.Message);
    }

    [Fact]
    public async Task Relative_paths_cannot_leave_the_folder()
    {
        await using var destination = Create("any-bucket", "exports", SmallParts);
        var error = Assert.Throws<DestinationException>(() => destination.GetSinkPath("a/../../etc/passwd"));
        Assert.Equal(DestinationFailure.InvalidConfiguration, error.Failure);
        Assert.Throws<ArgumentException>(() => destination.GetSinkPath("//"));
    }

    [Fact]
    public async Task Files_one_byte_past_the_threshold_and_past_a_part_boundary_read_back_byte_for_byte()
    {
        var bucket = await Servers.NewBucketAsync(Server);
        await using var destination = Create(bucket, "", SmallParts);
        // 6 MiB + 1: two parts (5 MiB, 1 MiB + 1); 10 MiB + 1: three parts, the last one byte long.
        (long Size, int Parts)[] cases = [(SmallParts.MultipartThreshold + 1, 2), (2 * SmallParts.PartSize + 1, 3)];

        foreach (var (size, parts) in cases)
        {
            var local = WriteRandomFile($"edge-{size}.bin", size);
            await destination.UploadFileAsync(local, $"edge-{size}.bin", default);

            var (sha256, storedSize) = await Server.ReadAsync(bucket, $"edge-{size}.bin", Work.Combine($"read-edge-{size}.bin"));
            Assert.Equal((Sha256Of(local), size), (sha256, storedSize));
            AssertUploadedInParts((await Server.HeadAsync(bucket, $"edge-{size}.bin"))!.Value.ETag, parts);
        }
    }

    [Fact]
    public async Task Keys_with_characters_that_need_escaping_are_stored_exactly_as_named()
    {
        var bucket = await Servers.NewBucketAsync(Server);
        await using var destination = Create(bucket, "exports/with space+plus", SmallParts);
        string[] names =
        [
            "d+1/x%20y #?&=;.json", "caf\u00e9/nfc.json", "cafe\u0301/nfd.json", "..leading/trailing../.dot.json", "Case/A.json", "case/a.json",
            LongName(1024 - "exports/with space+plus/".Length),
        ];
        foreach (var name in names)
        {
            var local = WriteRandomFile("named.bin", 1000 + name.Length);
            await destination.UploadFileAsync(local, name, default);
            Assert.Equal(1000 + name.Length, (await destination.GetFileInfoAsync(name, default))!.Size);
            await using var stream = await destination.OpenReadAsync(name, default);
            Assert.Equal(Sha256Of(local), Convert.ToHexStringLower(await SHA256.HashDataAsync(stream)));
        }

        var keys = await Server.ListAsync(bucket);
        Assert.Equal(names.Select(name => "exports/with space+plus/" + name).Order(StringComparer.Ordinal), keys.Keys.Order(StringComparer.Ordinal));
        Assert.Equal($"{UriScheme}://{bucket}/exports/with space+plus/d+1/x%20y #?&=;.json", destination.GetSinkPath(names[0]));
    }

    [Fact]
    public async Task A_folder_prefix_is_no_file_and_uploading_over_a_multipart_object_replaces_it_whole()
    {
        var bucket = await Servers.NewBucketAsync(Server);
        await using var destination = Create(bucket, "exports", SmallParts);
        var big = WriteRandomFile("big.bin", SmallParts.MultipartThreshold + 1);
        var small = WriteRandomFile("small.bin", 10);
        await destination.UploadFileAsync(big, "ds/a.bin", default);
        await destination.UploadFileAsync(small, "ds/a.bin", default);

        Assert.Null(await destination.GetFileInfoAsync("ds", default));
        var (sha256, size) = await Server.ReadAsync(bucket, "exports/ds/a.bin", Work.Combine("read-a.bin"));
        Assert.Equal((Sha256Of(small), 10L), (sha256, size));
        Assert.Equal(["exports/ds/a.bin"], (await Server.ListAsync(bucket)).Keys);
    }

    /// <summary>A name of exactly <paramref name="length"/> bytes in segments of 200 (the test servers store keys as files, at most 255 bytes a name).</summary>
    private static string LongName(int length) =>
        string.Join('/', Enumerable.Range(0, length / 201 + 1).Select(index => new string((char)('a' + index), 200)))[..length];

    protected string WriteRandomFile(string name, long size)
    {
        var path = Work.Combine(name);
        var random = new Random(unchecked((int)size) ^ name.Length);
        var buffer = new byte[1 << 20];
        using var file = File.Create(path);
        for (var left = size; left > 0; left -= buffer.Length)
        {
            random.NextBytes(buffer);
            file.Write(buffer, 0, (int)Math.Min(buffer.Length, left));
        }
        return path;
    }

    protected static string Sha256Of(string path)
    {
        using var file = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(file));
    }
}
