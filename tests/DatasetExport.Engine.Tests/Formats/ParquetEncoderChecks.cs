using DatasetExport.Engine.Formats;
using Parquet;
using Parquet.Schema;
using Record = DatasetExport.Engine.Formats.Record;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>What the tests of the engine's Parquet column encoders share: writing records through the writer, and reading a leaf back raw with Parquet.Net.</summary>
internal static class ParquetEncoderChecks
{
    /// <summary>Writes <paramref name="records"/> to <paramref name="path"/> with <see cref="ParquetFileWriter"/>, in chunks of 700.</summary>
    public static async Task<string> WriteAsync(string path, DatasetSchema schema, IReadOnlyList<Record> records, CompressionKind compression, int rowGroupRecords)
    {
        await using var output = File.Create(path);
        await using var writer = new ParquetFileWriter(output, schema, compression, rowGroupRecords);
        foreach (var chunk in records.Chunk(700)) await writer.WriteAsync(new RecordChunk(schema, chunk), CancellationToken.None);
        await writer.CompleteAsync(CancellationToken.None);
        return path;
    }

    /// <summary>Parquet.Net's raw definition and repetition levels of <paramref name="field"/> over every row group, and its non-null values made <paramref name="comparable"/>.</summary>
    public static async Task<(List<int> Definitions, List<int> Repetitions, List<object?> Values)> ReadRawAsync<T>(
        ParquetReader reader, DataField field, Func<T, object?> comparable)
        where T : struct
    {
        var definitions = new List<int>();
        var repetitions = new List<int>();
        var values = new List<object?>();
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            var count = (int)group.GetMetadata(field)!.MetaData!.NumValues;
            var groupDefinitions = new int[field.MaxDefinitionLevel > 0 ? count : 0];
            var groupRepetitions = new int[field.MaxRepetitionLevel > 0 ? count : 0];
            var groupValues = new T[count];
            await group.ReadRawAsync<T>(field, groupValues,
                groupDefinitions.Length > 0 ? groupDefinitions.AsMemory() : (Memory<int>?)null, groupRepetitions.Length > 0 ? groupRepetitions.AsMemory() : (Memory<int>?)null);
            definitions.AddRange(groupDefinitions);
            repetitions.AddRange(groupRepetitions);
            var valueCount = field.MaxDefinitionLevel > 0 ? groupDefinitions.Count(d => d == field.MaxDefinitionLevel) : count;
            values.AddRange(groupValues.Take(valueCount).Select(comparable));
        }
        return (definitions, repetitions, values);
    }
}
