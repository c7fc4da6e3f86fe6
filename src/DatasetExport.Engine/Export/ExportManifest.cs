using System.Text.Json;
using System.Text.Json.Serialization;
using DatasetExport.Engine.State;

namespace DatasetExport.Engine.Export;

/// <summary>
/// The manifest written after all data files of a run, as its commit marker. Field names follow the seed
/// platform (flowRunId, scheduledTime, exportResults[].sinkPath/name/size), extended with records and sha256.
/// </summary>
public sealed class ExportManifest
{
    public required string FlowRunId { get; init; }
    public required string FlowId { get; init; }
    public required string FlowName { get; init; }
    public required string DatasetId { get; init; }
    public required string DestinationId { get; init; }
    public required string DestinationName { get; init; }
    public required DateTimeOffset ScheduledTime { get; init; }
    public required string ExportTime { get; init; }
    public required string FileType { get; init; }
    public required string Compression { get; init; }
    public required long RecordCount { get; init; }
    public required IReadOnlyList<ManifestColumn> Schema { get; init; }
    public required IReadOnlyList<ManifestFile> ExportResults { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }

    public static string FileName(Guid destinationId, Guid runId) => $"manifest-{destinationId:D}-{runId:D}.json";

    public byte[] ToUtf8Json() => JsonSerializer.SerializeToUtf8Bytes(this, ManifestJson.Default.ExportManifest);

    public static ExportManifest Parse(ReadOnlySpan<byte> utf8Json) =>
        JsonSerializer.Deserialize(utf8Json, ManifestJson.Default.ExportManifest) ?? throw new JsonException("The manifest is empty.");
}

/// <summary>The manifest's JSON, generated at build time: reflection would cost a new process tens of milliseconds per run.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ExportManifest))]
internal sealed partial class ManifestJson : JsonSerializerContext;

public sealed record ManifestColumn(string Name, string Type, bool Nullable);

public sealed record ManifestFile(string SinkPath, string Name, long Size, long Records, string Sha256)
{
    public static ManifestFile From(RunFileRecord file) => new(file.SinkPath, file.Name, file.Size, file.Records, file.Sha256);
}
