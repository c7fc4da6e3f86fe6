using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

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
    /// <summary>
    /// Lines per chunk by default: a chunk's column arrays (16 bytes a string slice) then stay under the 85,000 bytes that
    /// put an array on the large object heap, whose collections are full ones (10,000 lines measured ~60 gen2 GCs per 1 M).
    /// </summary>
    public const int DefaultChunkSize = 4096;

    /// <summary>
    /// Bytes that close a chunk before its lines (<see cref="JsonLineShredder.ChunkFull"/>: the values' entries in the
    /// column arrays, their text and binary values' bytes), for wide lines: 2,000 lines of 5,000 text columns were one chunk of 270 MB.
    /// </summary>
    public const long DefaultChunkBytes = 8L << 20;

    /// <summary>
    /// Bytes of chunks an export's read (<see cref="RowGroupPools.OneRowGroupAtATime"/>, whose chunks are all released)
    /// holds before it parses more: chunks handed out and not yet released. Its writer reads up to 16 chunks ahead
    /// (about a Parquet row group of narrow records); 16 chunks of wide lines held 16 × <see cref="DefaultChunkBytes"/>.
    /// </summary>
    internal const long DefaultBytesAhead = 32L << 20;

    private readonly Action<BatchReadException>? _onInvalidRecord;
    private readonly RowGroupPools? _pools;
    private readonly JsonSchemaSample? _sample;

    public JsonLinesBatchReader(int chunkSize = DefaultChunkSize, Action<BatchReadException>? onInvalidRecord = null, long chunkBytes = DefaultChunkBytes)
        : this(chunkSize, onInvalidRecord, pools: null, chunkBytes: chunkBytes)
    {
    }

    /// <param name="pools">
    /// Where the chunks' arrays and text blocks come from and go back to when released: an export's, shared by its batches
    /// (each batch's read otherwise has pools of its own, whose arrays are dropped with it); null for a read's own.
    /// </param>
    /// <param name="sample">
    /// The batch's schema sample when the schema read with was inferred from it: every line is then checked to fit that
    /// schema as the inference would see it, and one that does not throws <see cref="SchemaSampleMisfitException"/>.
    /// </param>
    /// <param name="bytesAhead">With pools whose chunks are all released (an export's): see <see cref="DefaultBytesAhead"/>.</param>
    internal JsonLinesBatchReader(
        int chunkSize, Action<BatchReadException>? onInvalidRecord, RowGroupPools? pools, JsonSchemaSample? sample = null,
        long chunkBytes = DefaultChunkBytes, long bytesAhead = DefaultBytesAhead)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkBytes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(bytesAhead, 1);
        ChunkSize = chunkSize;
        ChunkBytes = chunkBytes;
        _bytesAhead = bytesAhead;
        _onInvalidRecord = onInvalidRecord;
        _pools = pools;
        _sample = sample;
    }

    /// <summary>Most lines per chunk.</summary>
    public int ChunkSize { get; }

    /// <summary>Bytes that close a chunk before <see cref="ChunkSize"/> lines (see <see cref="DefaultChunkBytes"/>).</summary>
    public long ChunkBytes { get; }

    private readonly long _bytesAhead;

    public BatchFormat Format => BatchFormat.JsonLines;

    public async Task<DatasetSchema> ReadSchemaAsync(string path, bool gzipped, CancellationToken cancellationToken) =>
        (await ReadSchemaSampleAsync(path, gzipped, long.MaxValue, cancellationToken).ConfigureAwait(false)).Schema;

    /// <summary>
    /// Lines an export infers a batch's schema from before it reads the batch, which checks every later line against it
    /// (see <see cref="JsonSchemaSample"/>): one chunk's worth, from every batch. DuckDB infers a whole dataset from
    /// 20,480 rows of its first file; 20,480 of each batch here cost a 1 M-line export 0.1 s more (8 batches) for no
    /// other gain, since a line the sample missed only makes the export start over, once (the full schemas are then kept).
    /// </summary>
    internal const int SchemaSampleLines = 4_096;

    /// <summary>The schema of the batch's first <paramref name="lines"/> lines (blank ones counted), or of all of them when it has no more.</summary>
    internal async Task<JsonSchemaSample> ReadSchemaSampleAsync(string path, bool gzipped, long lines, CancellationToken cancellationToken)
    {
        // A line left out (with a handler) must leave no trace in the schema, but the inference may have observed part of
        // it before meeting its fault: the first line refused starts the read over with every line checked whole first.
        var checkLinesFirst = false;
        // Objects judged maps on the way that the lines showed are none (JsonSchemaInference.MapMinKeys) are structs when
        // the inference starts over, which it does for each such object.
        var structPaths = new HashSet<string>(StringComparer.Ordinal);
        // Objects whose keys as a struct's fields would pass the field limit are maps from the start, when it starts over.
        var mapPaths = new HashSet<string>(StringComparer.Ordinal);
        while (true)
        {
            var inference = new JsonSchemaInference(path, structPaths, mapPaths);
            var observed = ObservedLines.MoreToRead;
            var source = LineSource.Open(path, gzipped);
            try
            {
                await using (source.ConfigureAwait(false))
                {
                    while (observed == ObservedLines.MoreToRead && await source.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        observed = ObserveLines(inference, source, path, checkLinesFirst, lines);
                    }
                }
            }
            catch (MapJudgementRevokedException revoked) when (structPaths.Add(revoked.ObjectPath))
            {
                continue;
            }
            catch (StructPastFieldLimitException tooWide) when (mapPaths.Add(tooWide.ObjectPath))
            {
                continue;
            }
            if (observed == ObservedLines.StartOver)
            {
                checkLinesFirst = true;
                continue;
            }
            if (inference.Finish() is { } revokedAtEnd && structPaths.Add(revokedAtEnd)) continue;
            var schema = inference.ToSchema();
            var (maps, denseObjects) = inference.Judgements();
            return new JsonSchemaSample(schema, Complete: observed == ObservedLines.MoreToRead, inference.UnobservedElements(), maps, denseObjects);
        }
    }

    private enum ObservedLines
    {
        MoreToRead,
        SampleTaken,
        StartOver,
    }

    /// <summary>The lines read so far, up to <paramref name="lastLine"/>, into the schema; StartOver when a line refused means starting over (see <see cref="Observe"/>).</summary>
    [MethodImpl(CompileOptions.HotPath)]
    private ObservedLines ObserveLines(JsonSchemaInference inference, LineSource lines, string path, bool checkFirst, long lastLine)
    {
        while (lines.TryTakeLine(out var lineNumber, out var line))
        {
            if (lineNumber > lastLine) return ObservedLines.SampleTaken;
            if (!Observe(inference, line.Span, path, lineNumber, checkFirst)) return ObservedLines.StartOver;
        }
        return ObservedLines.MoreToRead;
    }

    /// <summary>
    /// One line into the schema. The inference reads tokens as it goes, so it may meet a conflict before a syntax error
    /// that a parser would report first: the line is then checked whole, and its JSON error wins. With a handler, a line
    /// checked first that cannot be a record goes to the handler; one not checked first returns false instead, as part of
    /// it may be in the schema already.
    /// </summary>
    private bool Observe(JsonSchemaInference inference, ReadOnlySpan<byte> line, string path, long lineNumber, bool checkFirst)
    {
        if (_onInvalidRecord is not null && checkFirst)
        {
            if (Refusal(line, path, lineNumber) is { } refused) _onInvalidRecord(refused);
            else inference.Observe(line, lineNumber);
            return true;
        }
        try
        {
            inference.Observe(line, lineNumber);
            return true;
        }
        catch (Exception error) when (error is JsonException or BatchReadException or InvalidOperationException
            or MapJudgementRevokedException or StructPastFieldLimitException)
        {
            // A conflict in a line of valid JSON fails the batch, handler or not. (InvalidOperationException: a field name
            // escaping a lone surrogate, which the refusal below reports as the invalid JSON it is.) A value that disproves
            // a map, or keys that take an object past the field limit, in a line that is no record at all (its JSON breaks
            // off later) is the line's fault too, and no evidence about the object: the line left out leaves no trace.
            if (Refusal(line, path, lineNumber) is not { } refused) throw;
            if (_onInvalidRecord is null) throw refused;
            return false;
        }
    }

    /// <summary>Why the line cannot be a record at all (not valid JSON, not an object), or null.</summary>
    internal static BatchReadException? Refusal(ReadOnlySpan<byte> line, string path, long lineNumber)
    {
        JsonValueKind kind;
        try
        {
            kind = JsonSchemaInference.FirstToken(line);
        }
        catch (JsonException error)
        {
            return InvalidJson(error, path, lineNumber);
        }
        return kind == JsonValueKind.Object ? null : JsonSchemaInference.NotAnObject(path, lineNumber, kind);
    }

    public Task<long?> ReadRecordCountAsync(string path, bool gzipped, CancellationToken cancellationToken) => Task.FromResult<long?>(null);

    public async IAsyncEnumerable<RecordChunk> ReadAsync(
        string path, bool gzipped, DatasetSchema schema, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(schema);
        var rows = new JsonLineShredder(schema, path, ChunkSize, _pools ?? new RowGroupPools(), _sample, ChunkBytes);
        // Chunks of an export's read are all released: it parses on only while those it handed out hold little enough.
        var ahead = _pools is { OneRowGroupAtATime: true } ? new BytesAhead(_bytesAhead) : null;
        var lines = LineSource.Open(path, gzipped);
        await using (lines.ConfigureAwait(false))
        {
            while (await lines.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (AddLines(rows, lines))
                {
                    yield return rows.Build(ahead?.Hold(rows.HeldBytes));
                    if (ahead is not null) await ahead.WaitForRoomAsync(cancellationToken).ConfigureAwait(false);
                }
            }
        }
        // Objects the sample judged maps (or structs of many dense keys) that the whole batch judges the other way.
        rows.CheckSampleJudgements();
        if (rows.RowCount > 0) yield return rows.Build(ahead?.Hold(rows.HeldBytes));
    }

    /// <summary>
    /// Bytes of the chunks a read handed out and that are not released yet: the read waits while they are more than the
    /// budget. Only the read's own chunks count, so reads parsed at once never wait for each other's.
    /// </summary>
    private sealed class BytesAhead(long budget)
    {
        private readonly SemaphoreSlim _released = new(0);
        private long _held;

        /// <summary>Counts <paramref name="bytes"/> as held; the action, run when their chunk is released, gives them back.</summary>
        public Action Hold(long bytes)
        {
            Interlocked.Add(ref _held, bytes);
            return () =>
            {
                Interlocked.Add(ref _held, -bytes);
                _released.Release();
            };
        }

        /// <summary>Waits until the chunks held hold the budget or less.</summary>
        public async ValueTask WaitForRoomAsync(CancellationToken cancellationToken)
        {
            while (Interlocked.Read(ref _held) > budget) await _released.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Adds the lines read so far as rows until a chunk is full (true: build it, then call again) or they run out.</summary>
    [MethodImpl(CompileOptions.HotPath)]
    private bool AddLines(JsonLineShredder rows, LineSource lines)
    {
        while (lines.TryTakeLine(out var lineNumber, out var line))
        {
            try
            {
                rows.AddRow(line, lineNumber);
            }
            catch (BatchReadException invalid) when (_onInvalidRecord is not null)
            {
                _onInvalidRecord(invalid);
            }
            if (rows.ChunkFull()) return true;
        }
        return false;
    }

    private static BatchReadException InvalidJson(JsonException error, string path, long lineNumber) =>
        new(path, $"line {lineNumber}", $"invalid JSON: {error.Message}", error);

    /// <summary>
    /// Splits a batch file into its non-blank lines as UTF-8 bytes, with their 1-based line numbers, never decoded to .NET
    /// strings. Lines end at '\n', '\r\n' or '\r' (as <see cref="StreamReader"/> splits them); a BOM at the start of the
    /// file is dropped; a line that is empty or only white space is counted and skipped; a line that is not valid UTF-8
    /// fails the file. The file is read by <see cref="ReadAsync"/> and split by <see cref="TryTakeLine"/>, which is not
    /// async: lines are taken in a tight loop (JIT-optimized at once, see <see cref="CompileOptions.HotPath"/>) with no await per line.
    /// A line is a slice of the source's buffer, valid until the next <see cref="ReadAsync"/>.
    /// </summary>
    internal sealed class LineSource : IAsyncDisposable
    {
        private readonly string _path;
        private readonly FileStream _file;
        private readonly Stream _input;
        private byte[] _buffer = ArrayPool<byte>.Shared.Rent(InitialLineBufferBytes);
        // _buffer[_start.._end] is read but not yet split; its first _searched bytes hold no line end.
        private int _start, _end, _searched;
        private bool _endOfFile;
        private long _lineNumber;

        private LineSource(string path, FileStream file, bool gzipped)
        {
            _path = path;
            _file = file;
            _input = gzipped ? new CheckedGzipStream(file) : file;
        }

        public static LineSource Open(string path, bool gzipped)
        {
            try
            {
                return new LineSource(path, new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: gzipped ? 1 << 16 : 0, useAsync: true), gzipped);
            }
            catch (Exception error) when (error is FileNotFoundException or DirectoryNotFoundException)
            {
                throw new BatchReadException(path, "", "the batch file does not exist.", error);
            }
        }

        /// <summary>
        /// Reads more of the file, after <see cref="TryTakeLine"/> returned false; false once the file is read to its end
        /// (its lines then were all taken).
        /// </summary>
        public async ValueTask<bool> ReadAsync(CancellationToken cancellationToken)
        {
            if (_endOfFile) return false;
            if (_start > 0)
            {
                _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
                (_start, _end) = (0, _end - _start);
            }
            if (_end == _buffer.Length) _buffer = Grow(_buffer, _end);
            int read;
            try
            {
                read = await _input.ReadAsync(_buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
            }
            catch (InvalidDataException error)
            {
                throw new BatchReadException(_path, $"line {_lineNumber + 1}", $"the file cannot be decoded: {error.Message}", error);
            }
            _endOfFile = read == 0;
            _end += read;
            return true;
        }

        /// <summary>The next non-blank line read so far, or false when more must be read first (or the file is done).</summary>
        [MethodImpl(CompileOptions.HotPath)]
        public bool TryTakeLine(out long lineNumber, out ReadOnlyMemory<byte> line)
        {
            while (true)
            {
                var pending = _buffer.AsMemory(_start, _end - _start);
                var found = pending.Span[_searched..].IndexOfAny((byte)'\n', (byte)'\r');
                var lineEnd = found < 0 ? -1 : _searched + found;
                // A '\r' last in the buffer may be the first half of "\r\n": read on before deciding.
                if (!_endOfFile && (lineEnd < 0 || (lineEnd == pending.Length - 1 && pending.Span[lineEnd] == (byte)'\r')))
                {
                    _searched = lineEnd < 0 ? pending.Length : lineEnd;
                    break;
                }
                if (pending.IsEmpty) break;
                if (lineEnd < 0)
                {
                    line = pending;   // the last line has no line end
                    _start = _end;
                }
                else
                {
                    line = pending[..lineEnd];
                    var crlf = pending.Span[lineEnd] == (byte)'\r' && lineEnd + 1 < pending.Length && pending.Span[lineEnd + 1] == (byte)'\n';
                    _start += lineEnd + (crlf ? 2 : 1);
                }
                _searched = 0;
                _lineNumber++;
                if (_lineNumber == 1 && line.Span.StartsWith(Utf8Bom)) line = line[Utf8Bom.Length..];
                if (!Utf8.IsValid(line.Span)) throw NotUtf8(line.Span, _path, _lineNumber);
                if (IsBlank(line.Span)) continue;
                lineNumber = _lineNumber;
                return true;
            }
            lineNumber = 0;
            line = default;
            return false;
        }

        public async ValueTask DisposeAsync()
        {
            await _input.DisposeAsync().ConfigureAwait(false);
            await _file.DisposeAsync().ConfigureAwait(false);
            if (_buffer.Length == 0) return;
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }
    }

    /// <summary>
    /// Lines start in a buffer this big, which doubles for a longer line. The file is read in pieces this big: on Linux
    /// each read is a thread-pool round trip, which at 64 KB took a tenth of the read time (measured 166 → 150 ms per 49 MB).
    /// </summary>
    internal const int InitialLineBufferBytes = 1 << 20;

    private static ReadOnlySpan<byte> Utf8Bom => [0xEF, 0xBB, 0xBF];

    private static byte[] Grow(byte[] buffer, int used)
    {
        var larger = ArrayPool<byte>.Shared.Rent(checked(buffer.Length * 2));
        buffer.AsSpan(0, used).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(buffer);
        return larger;
    }

    /// <summary>Empty or only white space, as <see cref="string.IsNullOrWhiteSpace"/> judges it; stops at the first other character.</summary>
    [MethodImpl(CompileOptions.HotPath)]
    private static bool IsBlank(ReadOnlySpan<byte> line)
    {
        while (!line.IsEmpty)
        {
            Rune.DecodeFromUtf8(line, out var rune, out var length);
            if (!Rune.IsWhiteSpace(rune)) return false;
            line = line[length..];
        }
        return true;
    }

    private static BatchReadException NotUtf8(ReadOnlySpan<byte> line, string path, long lineNumber)
    {
        var offset = 0;
        while (Rune.DecodeFromUtf8(line[offset..], out _, out var length) == OperationStatus.Done) offset += length;
        return new BatchReadException(path, $"line {lineNumber}",
            $"the file cannot be decoded: the line is not valid UTF-8 (byte 0x{line[offset]:X2} at byte {offset + 1} of the line).");
    }
}
