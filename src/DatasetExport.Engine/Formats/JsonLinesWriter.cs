using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Writes records as JSON Lines: UTF-8 without BOM, one object per line ending in '\n', optionally gzipped.
/// Values map as in docs/formats.md: timestamps ISO-8601 UTC with 'Z', dates yyyy-MM-dd, times HH:mm:ss[.fffffff],
/// decimals as exact JSON numbers, binary as base64, NaN and infinities as null, maps as objects with string keys.
/// Rows are written straight from the chunk's columns (<see cref="JsonRowWriter"/>). Gzip is compressed in blocks on
/// other threads (<see cref="ParallelGzipWriter"/>), so with gzip <see cref="BytesWritten"/> lags the records written
/// by the blocks still compressing (a few MB of JSON); files roll over that much later.
/// </summary>
public sealed class JsonLinesWriter : IFormatWriter
{
    /// <summary>Buffered JSON is handed to the output once it reaches this size.</summary>
    private const int FlushThresholdBytes = 1 << 20;

    /// <summary>Most gzip blocks compressing at once: one per core up to this, which bounds the memory (2 MiB twice each).</summary>
    private const int MaxGzipThreads = 4;

    private readonly DatasetSchema _schema;
    private readonly CountingStream _counter;
    private readonly ParallelGzipWriter? _gzip;
    private readonly ArrayBufferWriter<byte> _buffer = new(FlushThresholdBytes + (1 << 16));
    private readonly Utf8JsonWriter _json;
    private readonly JsonRowWriter _rows;
    private bool _completed;

    /// <param name="gzipBlockBytes">Uncompressed bytes per gzip block (<see cref="ParallelGzipWriter"/>): smaller blocks let
    /// <see cref="BytesWritten"/> lag less, for small file size limits.</param>
    public JsonLinesWriter(Stream output, DatasetSchema schema, bool gzip, int gzipBlockBytes = ParallelGzipWriter.DefaultBlockBytes)
        : this(output, schema, gzip, gzipBlockBytes, gzipBlocks: null)
    {
    }

    /// <param name="gzipBlocks">Where gzip blocks come from and go back to: the files of one export share them.</param>
    internal JsonLinesWriter(Stream output, DatasetSchema schema, bool gzip, int gzipBlockBytes, ParallelGzipWriter.BlockShelf? gzipBlocks)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(schema);
        _schema = schema;
        _counter = new CountingStream(output);
        _gzip = gzip ? new ParallelGzipWriter(_counter, maxInFlight: Math.Min(Environment.ProcessorCount, MaxGzipThreads), gzipBlockBytes, gzipBlocks) : null;
        // Relaxed escaping keeps non-ASCII text as UTF-8 instead of \u escapes; quotes and control characters are still escaped.
        _json = new Utf8JsonWriter(_buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        _rows = new JsonRowWriter(ColumnLayout.For(schema), JavaScriptEncoder.UnsafeRelaxedJsonEscaping);
    }

    public long BytesWritten => _counter.BytesWritten;
    public long RecordsWritten { get; private set; }

    public async Task WriteAsync(RecordChunk chunk, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        ObjectDisposedException.ThrowIf(_completed, this);
        if (!ReferenceEquals(chunk.Schema, _schema) && !chunk.Schema.Equals(_schema))
        {
            throw new ArgumentException($"The chunk's schema ({chunk.Schema}) is not the file's ({_schema}).", nameof(chunk));
        }
        _rows.Begin(chunk);
        var row = 0;
        while (row < chunk.RowCount)
        {
            row = WriteRowsUntilFull(row, chunk.RowCount);
            if (_buffer.WrittenCount >= FlushThresholdBytes) await FlushBufferAsync(cancellationToken).ConfigureAwait(false);
        }
        _rows.End();
        await FlushBufferAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Writes rows from <paramref name="row"/> until the buffer reaches the flush threshold; returns the next row.</summary>
    private int WriteRowsUntilFull(int row, int rowCount)
    {
        for (; row < rowCount && _buffer.WrittenCount < FlushThresholdBytes; row++)
        {
            _rows.WriteRow(_json);
            // Flush hands the object to the buffer; Reset lets the next line start a new top-level value.
            _json.Flush();
            _json.Reset();
            _buffer.Write("\n"u8);
            RecordsWritten++;
        }
        return row;
    }

    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        if (_completed) return;
        await FlushBufferAsync(cancellationToken).ConfigureAwait(false);
        if (_gzip is not null) await _gzip.CompleteAsync(cancellationToken).ConfigureAwait(false);
        await _counter.FlushAsync(cancellationToken).ConfigureAwait(false);
        _completed = true;
    }

    /// <summary>Releases the encoder; without <see cref="CompleteAsync"/> nothing more reaches the output (no gzip trailer).</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_completed) _counter.Abandon();
        await _json.DisposeAsync().ConfigureAwait(false);
        if (_gzip is not null) await _gzip.DisposeAsync().ConfigureAwait(false);
        _completed = true;
    }

    private async Task FlushBufferAsync(CancellationToken cancellationToken)
    {
        if (_buffer.WrittenCount == 0) return;
        if (_gzip is not null) await _gzip.WriteAsync(_buffer.WrittenMemory, cancellationToken).ConfigureAwait(false);
        else await _counter.WriteAsync(_buffer.WrittenMemory, cancellationToken).ConfigureAwait(false);
        _buffer.ResetWrittenCount();
    }
}
