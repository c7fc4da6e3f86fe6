using System.Diagnostics;
using System.Text.Json;

namespace DatasetExport.Engine.Tests.Destinations.S3;

/// <summary>
/// An S3 client independent of the AWS SDK for .NET: python3's boto3, run as a subprocess. Tests read back what
/// the destinations wrote with it, so a bug shared by the destination and its SDK cannot hide itself.
/// </summary>
public sealed class Boto3
{
    // One operation per run; arguments arrive as one JSON object, the result leaves as one JSON object.
    private const string Script = """
        import hashlib, json, sys
        import boto3
        from botocore.config import Config

        a = json.loads(sys.argv[1])
        s3 = boto3.client(
            "s3", endpoint_url=a["endpoint"], region_name="us-east-1",
            aws_access_key_id=a["keyId"], aws_secret_access_key=a["secret"],
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                          request_checksum_calculation="when_required", response_checksum_validation="when_required"))
        op, bucket, key = a["op"], a.get("bucket"), a.get("key")
        out = {}
        if op == "create-bucket":
            s3.create_bucket(Bucket=bucket)
        elif op == "read":
            body = s3.get_object(Bucket=bucket, Key=key)["Body"]
            digest, size = hashlib.sha256(), 0
            with open(a["path"], "wb") as f:
                for chunk in iter(lambda: body.read(1 << 20), b""):
                    digest.update(chunk); size += len(chunk); f.write(chunk)
            out = {"sha256": digest.hexdigest(), "size": size}
        elif op == "head":
            try:
                h = s3.head_object(Bucket=bucket, Key=key)
                out = {"exists": True, "size": h["ContentLength"], "etag": h["ETag"].strip('"')}
            except s3.exceptions.ClientError as e:
                if e.response["ResponseMetadata"]["HTTPStatusCode"] != 404: raise
                out = {"exists": False}
        elif op == "bucket-exists":
            try:
                s3.head_bucket(Bucket=bucket)
                out = {"exists": True}
            except s3.exceptions.ClientError as e:
                if e.response["ResponseMetadata"]["HTTPStatusCode"] != 404: raise
                out = {"exists": False}
        elif op == "put":
            with open(a["path"], "rb") as f:
                s3.put_object(Bucket=bucket, Key=key, Body=f.read())
        elif op == "list":
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=a.get("prefix", ""))
            out = {"objects": [{"key": o["Key"], "size": o["Size"]} for p in pages for o in p.get("Contents", [])]}
        elif op == "download-all":
            import os
            for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for o in p.get("Contents", []):
                    path = os.path.join(a["path"], *o["Key"].split("/"))
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    s3.download_file(bucket, o["Key"], path)
        elif op == "crc32-all":
            import base64, zlib
            out = {"objects": []}
            for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for o in p.get("Contents", []):
                    stored = s3.head_object(Bucket=bucket, Key=o["Key"], ChecksumMode="ENABLED").get("ChecksumCRC32")
                    crc, body = 0, s3.get_object(Bucket=bucket, Key=o["Key"])["Body"]
                    for chunk in iter(lambda: body.read(1 << 20), b""):
                        crc = zlib.crc32(chunk, crc)
                    out["objects"].append({"key": o["Key"], "stored": stored, "computed": base64.b64encode(crc.to_bytes(4, "big")).decode()})
        elif op == "create-multipart":
            out = {"uploadId": s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]}
        elif op == "abort-multipart":
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=a["uploadId"])
        else:
            raise SystemExit("unknown op " + op)
        print(json.dumps(out))
        """;

    private readonly Uri _endpoint;
    private readonly string _keyId;
    private readonly string _secret;

    public Boto3(Uri endpoint, string keyId, string secret)
    {
        _endpoint = endpoint;
        _keyId = keyId;
        _secret = secret;
    }

    public Task CreateBucketAsync(string bucket) => RunAsync("create-bucket", bucket);

    /// <summary>Downloads an object to <paramref name="path"/> and returns its sha256 (hex) and size.</summary>
    public async Task<(string Sha256, long Size)> ReadAsync(string bucket, string key, string path)
    {
        var result = await RunAsync("read", bucket, key, new() { ["path"] = path });
        return (result.GetProperty("sha256").GetString()!, result.GetProperty("size").GetInt64());
    }

    /// <summary>The object's size and ETag, or null when it does not exist.</summary>
    public async Task<(long Size, string ETag)?> HeadAsync(string bucket, string key)
    {
        var result = await RunAsync("head", bucket, key);
        return result.GetProperty("exists").GetBoolean() ? (result.GetProperty("size").GetInt64(), result.GetProperty("etag").GetString()!) : null;
    }

    public async Task<bool> BucketExistsAsync(string bucket) => (await RunAsync("bucket-exists", bucket)).GetProperty("exists").GetBoolean();

    public Task PutAsync(string bucket, string key, string path) => RunAsync("put", bucket, key, new() { ["path"] = path });

    /// <summary>Every object key (with size) under <paramref name="prefix"/>.</summary>
    public async Task<Dictionary<string, long>> ListAsync(string bucket, string prefix = "")
    {
        var result = await RunAsync("list", bucket, extra: new() { ["prefix"] = prefix });
        return result.GetProperty("objects").EnumerateArray().ToDictionary(o => o.GetProperty("key").GetString()!, o => o.GetProperty("size").GetInt64());
    }

    /// <summary>Downloads every object of the bucket into <paramref name="folder"/>, one file per key ('/' making folders), in one run.</summary>
    public Task DownloadAllAsync(string bucket, string folder) => RunAsync("download-all", bucket, extra: new() { ["path"] = folder });

    /// <summary>
    /// Every object's key, the CRC32 checksum the server stored with it (sent by the uploader; null when none) and the
    /// CRC32 of its bytes as read back, computed by python's zlib; both base64 of the big-endian value, as S3 shows them.
    /// </summary>
    public async Task<List<(string Key, string? Stored, string Computed)>> Crc32AllAsync(string bucket) =>
        (await RunAsync("crc32-all", bucket)).GetProperty("objects").EnumerateArray()
            .Select(o => (o.GetProperty("key").GetString()!, o.GetProperty("stored").GetString(), o.GetProperty("computed").GetString()!)).ToList();

    public async Task<string> CreateMultipartUploadAsync(string bucket, string key) =>
        (await RunAsync("create-multipart", bucket, key)).GetProperty("uploadId").GetString()!;

    public Task AbortMultipartUploadAsync(string bucket, string key, string uploadId) =>
        RunAsync("abort-multipart", bucket, key, new() { ["uploadId"] = uploadId });

    private async Task<JsonElement> RunAsync(string op, string? bucket = null, string? key = null, Dictionary<string, string>? extra = null)
    {
        var arguments = new Dictionary<string, string?>
        {
            ["op"] = op, ["endpoint"] = _endpoint.ToString(), ["keyId"] = _keyId, ["secret"] = _secret, ["bucket"] = bucket, ["key"] = key,
        };
        foreach (var (name, value) in extra ?? []) arguments[name] = value;

        var start = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(Script);
        start.ArgumentList.Add(JsonSerializer.Serialize(arguments));
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"boto3 {op} {bucket}/{key} failed (exit {process.ExitCode}): {await errors}");
        }
        return JsonDocument.Parse(await output).RootElement.Clone();
    }
}
