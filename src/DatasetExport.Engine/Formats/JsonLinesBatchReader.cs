using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Reads JSON Lines batches (<c>.json</c>, <c>.jsonl</c>, <c>.ndjson</c>, optionally gzipped): one JSON object per line,
/// empty lines skipped. The schema is inferred from every line (rules in docs/formats.md and <see cref="JsonSchemaInference"/>);
/// records stream in chunks of <see cref="ChunkSize"/> lines. Strict by default: an invalid line fails the read. With an
/// invalid-record handler, a line that is not JSON, not a JSON object, or does not fit the schema is passed to the handler
/// and left out instead; a file that cannot be decoded (corrupt gzip, invalid UTF-8) or whose lines conflict in type
/// still fails as a whole.
/// </summary>
public sealed class JsonLinesBatchReader : IBatchReader
{
    public const int DefaultChunkSize = 10_000;

    private readonly Action<BatchReadException>? _onInvalidRecord;

    public JsonLinesBatchReader(int chunkSize = DefaultChunkSize, Action<BatchReadException>? onInvalidRecord = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1);
        ChunkSize = chunkSize;
        _onInvalidRecord = onInvalidRecord;
    }

    public int ChunkSize { get; }

    public BatchFormat Format => BatchFormat.JsonLines;

    public async Task<DatasetSchema> ReadSchemaAsync(string path, bool gzipped, CancellationToken cancellationToken)
    {
        var inference = new JsonSchemaInference(path);
        await foreach (var (lineNumber, document) in ReadLinesAsync(path, gzipped, cancellationToken).ConfigureAwait(false))
        {
            using (document)
            {
                // Checked before Observe, which must not see (and half-record) a line that is then left out.
                if (_onInvalidRecord is not null && document.RootElement.ValueKind != JsonValueKind.Object)
                {
                    _onInvalidRecord(NotAnObject(document.RootElement, path, lineNumber));
                    continue;
                }
                inference.Observe(document.RootElement, lineNumber);
            }
        }
        return inference.ToSchema();
    }

    public Task<long?> ReadRecordCountAsync(string path, bool gzipped, CancellationToken cancellationToken) => Task.FromResult<long?>(null);

    public async IAsyncEnumerable<RecordChunk> ReadAsync(
        string path, bool gzipped, DatasetSchema schema, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(schema);
        var rows = new JsonLineShredder(schema, path);
        await foreach (var (lineNumber, document) in ReadLinesAsync(path, gzipped, cancellationToken).ConfigureAwait(false))
        {
            using (document)
            {
                try
                {
                    var line = document.RootElement;
                    if (line.ValueKind != JsonValueKind.Object) throw NotAnObject(line, path, lineNumber);
                    rows.AddRow(line, lineNumber);
                }
                catch (BatchReadException invalid) when (_onInvalidRecord is not null)
                {
                    _onInvalidRecord(invalid);
                }
            }
            if (rows.RowCount == ChunkSize) yield return rows.Build();
        }
        if (rows.RowCount > 0) yield return rows.Build();
    }

    /// <summary>Every non-empty line parsed, with its 1-based line number.</summary>
    private async IAsyncEnumerable<(long LineNumber, JsonDocument Document)> ReadLinesAsync(
        string path, bool gzipped, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        }
        catch (Exception error) when (error is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new BatchReadException(path, "", "the batch file does not exist.", error);
        }
        await using var fileScope = file.ConfigureAwait(false);
        Stream input = gzipped ? new CheckedGzipStream(file) : file;
        using var reader = new StreamReader(input, new UTF8Encoding(false, throwOnInvalidBytes: true), detectEncodingFromByteOrderMarks: true, 1 << 16);
        long lineNumber = 0;
        while (true)
        {
            string? line;
            try
            {
                line = await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception error) when (error is InvalidDataException or DecoderFallbackException)
            {
                throw new BatchReadException(path, $"line {lineNumber + 1}", $"the file cannot be decoded: {error.Message}", error);
            }
            if (line is null) yield break;
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(line);
            }
            catch (JsonException error)
            {
                var invalid = new BatchReadException(path, $"line {lineNumber}", $"invalid JSON: {error.Message}", error);
                if (_onInvalidRecord is null) throw invalid;
                _onInvalidRecord(invalid);
                continue;
            }
            yield return (lineNumber, document);
        }
    }

    private static BatchReadException NotAnObject(JsonElement line, string path, long lineNumber) =>
        new(path, $"line {lineNumber}", $"expected a JSON object but found {JsonSchemaInference.Describe(line.ValueKind)}.");
}
