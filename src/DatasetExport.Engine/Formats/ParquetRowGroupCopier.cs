using System.Buffers;
using System.Runtime.CompilerServices;
using Microsoft.Win32.SafeHandles;
using Parquet;
using Parquet.Meta;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Copies a Parquet batch's row groups into Parquet files of the same column layout without decoding a value: each column
/// chunk's pages are taken as they are, or decompressed and compressed again page by page when the destination's codec
/// differs (the columns of a row group on all cores). Used when the batch's columns store exactly what
/// <see cref="ParquetFileWriter"/> would write for the dataset schema (<see cref="ParquetFileLayout"/>); any other batch
/// goes through <see cref="ParquetBatchReader"/> and is encoded again. Pages are checked on the way: their headers must
/// chain to the end of their column chunk and count its values, and recompressed pages must decompress to their size.
/// Its buffers come from <see cref="RowGroupPools"/>, and a row group is prepared on its turn there (one alive at a time with
/// an export's pools, which it shares between its batches and with the decoding reader).
/// </summary>
internal sealed class ParquetRowGroupCopier
{
    private readonly string _path;
    private readonly FileMetaData _metadata;
    private readonly CompressionCodec _target;
    private readonly IReadOnlyList<LeafColumn> _leaves;
    private readonly bool _dropTimestampStatistics;
    private readonly RowGroupPools _pools;
    private readonly ArrayPool<byte> _buffers;

    private ParquetRowGroupCopier(
        string path, FileMetaData metadata, CompressionCodec target, IReadOnlyList<LeafColumn> leaves, bool dropTimestampStatistics, RowGroupPools pools)
    {
        _path = path;
        _pools = pools;
        _buffers = pools.Of<byte>();
        _metadata = metadata;
        _target = target;
        _leaves = leaves;
        _dropTimestampStatistics = dropTimestampStatistics;
    }

    public long RowCount => _metadata.RowGroups.Sum(group => group.NumRows);

    /// <summary>
    /// A copier for the batch at <paramref name="path"/> into <paramref name="schema"/>'s files compressed with
    /// <paramref name="compression"/>, or null when its row groups must be decoded: gzipped batch, columns stored
    /// differently (types, units, levels, order), encryption, an unsupported codec, or a row group larger (compressed)
    /// than <paramref name="maxRowGroupBytes"/>, which keeps part files near their size limit. An unreadable file is
    /// null too: the reader that decodes it reports why. Its memory is <paramref name="pools"/>', or its own (one row group alive).
    /// </summary>
    public static async Task<ParquetRowGroupCopier?> TryOpenAsync(
        string path, bool gzipped, DatasetSchema schema, CompressionKind compression, long maxRowGroupBytes, RowGroupPools? pools,
        CancellationToken cancellationToken)
    {
        if (gzipped) return null;
        FileMetaData metadata;
        DatasetSchema fileSchema;
        try
        {
            await using var reader = await ParquetReader.CreateAsync(path, ParquetSchemaMapping.ReadOptions(), cancellationToken).ConfigureAwait(false);
            metadata = reader.Metadata ?? throw new InvalidDataException("no footer");
            if (ParquetSchemaMapping.SchemaDepthProblem(metadata) is { } tooDeep) throw new InvalidDataException(tooDeep);
            fileSchema = ParquetSchemaMapping.ToDatasetSchema(reader.Schema);
        }
        catch (Exception error) when (error is not OperationCanceledException)
        {
            return null;
        }
        if (!fileSchema.Equals(schema) || metadata.EncryptionAlgorithm is not null) return null;
        var template = ParquetFileLayout.Template(schema);
        var ours = ParquetFileLayout.Leaves(template.Schema);
        IReadOnlyList<LeafColumn> theirs;
        try
        {
            theirs = ParquetFileLayout.Leaves(metadata.Schema);
        }
        catch (InvalidDataException)
        {
            return null;
        }
        if (!theirs.Select(leaf => leaf.Signature).SequenceEqual(ours.Select(leaf => leaf.Signature))) return null;
        var target = ParquetPageCodec.ToCodec(compression);
        foreach (var group in metadata.RowGroups)
        {
            if (group.Columns.Count != ours.Count || group.Columns.Sum(column => column.MetaData?.TotalCompressedSize ?? 0) > maxRowGroupBytes) return null;
            foreach (var column in group.Columns)
            {
                if (column.MetaData is not { } chunk || column.FilePath is not null || column.CryptoMetadata is not null || column.EncryptedColumnMetadata is not null) return null;
                if (chunk.Codec != target && !ParquetPageCodec.Decompresses(chunk.Codec)) return null;
            }
        }
        // Parquet.Net 6.1.0 writes wrong timestamp min/max (aloneguid/parquet-dotnet#769): from its files (the created_by of
        // the footer template) they are left out rather than copied. ParquetFileWriter's files name the engine instead, and
        // keep theirs: it encodes every column itself.
        var writtenByParquetNet = metadata.CreatedBy is { } createdBy && template.CreatedBy is { } ourWriter
            && createdBy.StartsWith(ourWriter.Split(' ')[0], StringComparison.OrdinalIgnoreCase);
        return new ParquetRowGroupCopier(path, metadata, target, ours, writtenByParquetNet, pools ?? new RowGroupPools(oneRowGroupAtATime: true));
    }

    /// <summary>
    /// The batch's row groups in order, each ready for <see cref="ParquetFileWriter.WriteAsync(EncodedRowGroup, CancellationToken)"/>.
    /// Each must be disposed once written, by the caller or whoever it hands it to: the next is prepared then
    /// (<see cref="RowGroupPools.OneRowGroupAtATime"/>), without waiting to be asked, and a caller that asks for the next
    /// while it still holds this one waits for it to be disposed.
    /// </summary>
    public async IAsyncEnumerable<EncodedRowGroup> ReadAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Row groups without rows may have no data page at all: there is nothing to copy.
        var groups = Enumerable.Range(0, _metadata.RowGroups.Count).Where(index => _metadata.RowGroups[index].NumRows > 0).ToList();
        using var file = File.OpenHandle(_path, FileMode.Open, FileAccess.Read, FileShare.Read);
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task<EncodedRowGroup>? next = null;
        try
        {
            for (var i = 0; i < groups.Count; i++)
            {
                var current = await (next ?? Prepare(file, groups[i], stopping.Token)).ConfigureAwait(false);
                next = i + 1 < groups.Count ? Prepare(file, groups[i + 1], stopping.Token) : null;
                yield return current;
            }
        }
        finally
        {
            // Stopped early: the row group prepared ahead (or still waiting for its turn) is given back, and nothing reads the
            // file once it is closed.
            stopping.Cancel();
            if (next is not null)
            {
                try
                {
                    (await next.ConfigureAwait(false)).Dispose();
                }
                catch (Exception)
                {
                    // The caller stopped for its own reason; this row group was never asked for.
                }
            }
        }
    }

    private async Task<EncodedRowGroup> Prepare(SafeFileHandle file, int index, CancellationToken cancellationToken)
    {
        var lease = await _pools.LeaseAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await Task.Run(() =>
            {
                cancellationToken.ThrowIfCancellationRequested();
                try
                {
                    return Encode(file, _metadata.RowGroups[index], lease);
                }
                catch (Exception error) when (error is not OperationCanceledException)
                {
                    throw new BatchReadException(_path, $"row group {index}", error.Message, error);
                }
            }, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            lease.Release();
            throw;
        }
    }

    private EncodedRowGroup Encode(SafeFileHandle file, RowGroup group, RowGroupLease lease)
    {
        var columns = group.Columns;
        var pieces = new PooledBufferWriter[columns.Count];
        try
        {
            // One column per core: each holds its chunk, and its page decompressed and compressed again, while it works.
            Parallel.For(0, columns.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, i => pieces[i] = CopyColumn(file, columns[i], i));
            long offset = 0;
            for (var i = 0; i < pieces.Length; i++)
            {
                EncodedRowGroup.MoveOffsets(columns[i], offset);
                offset += pieces[i].WrittenCount;
            }
            group.FileOffset = 0;
            group.TotalCompressedSize = offset;
            group.TotalByteSize = columns.Sum(column => column.MetaData!.TotalUncompressedSize);
            group.SortingColumns = null;
            return new EncodedRowGroup(group, pieces, lease.Release);
        }
        catch
        {
            foreach (var piece in pieces) piece?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// One column chunk's pages, recompressed when needed, with its metadata rewritten to match (offsets from the chunk's
    /// first byte, our schema's path, no page indexes or bloom filter: those lie elsewhere in the source file).
    /// </summary>
    private PooledBufferWriter CopyColumn(SafeFileHandle file, ColumnChunk column, int leafIndex)
    {
        var chunk = column.MetaData!;
        var source = ParquetColumnChunk.Read(file, chunk, _buffers, out var size);
        // Recompressed chunks are rarely larger than they were; one that is grows its buffer once.
        var output = new PooledBufferWriter(size, _buffers);
        try
        {
            var pages = new MemoryStream(source, 0, size, writable: false);
            long? dictionaryOffset = null;
            long? dataOffset = null;
            long values = 0;
            long uncompressedTotal = 0;
            using var headerBytes = new MemoryStream();
            while (pages.Position < size)
            {
                var header = ParquetColumnChunk.NextPage(pages, out var payloadStart);
                var payload = source.AsMemory(payloadStart, header.CompressedPageSize);
                if (header.Type == PageType.DICTIONARY_PAGE) dictionaryOffset ??= output.WrittenCount;
                else if (header.Type is PageType.DATA_PAGE or PageType.DATA_PAGE_V2) dataOffset ??= output.WrittenCount;
                values += header.DataPageHeader?.NumValues ?? header.DataPageHeaderV2?.NumValues ?? 0;
                if (_dropTimestampStatistics && _leaves[leafIndex].Signature.Unit is not null)
                {
                    if (header.DataPageHeader is { } v1) v1.Statistics = null;
                    if (header.DataPageHeaderV2 is { } v2) v2.Statistics = null;
                }
                var recompressed = chunk.Codec == _target ? null : Recompress(header, payload, chunk.Codec);
                try
                {
                    headerBytes.SetLength(0);
                    ParquetThrift.Write(header, headerBytes);
                    output.Write(headerBytes.GetBuffer().AsSpan(0, (int)headerBytes.Length));
                    output.Write(recompressed is null ? payload.Span : recompressed.WrittenSpan);
                    uncompressedTotal += headerBytes.Length + header.UncompressedPageSize;
                }
                finally
                {
                    recompressed?.Dispose();
                }
            }
            if (values != chunk.NumValues || dataOffset is null)
            {
                throw new InvalidDataException($"column '{string.Join('.', _leaves[leafIndex].Path)}': its pages hold {values} values, its metadata says {chunk.NumValues}.");
            }
            chunk.Codec = _target;
            chunk.PathInSchema = _leaves[leafIndex].Path.ToList();
            chunk.DictionaryPageOffset = dictionaryOffset;
            chunk.DataPageOffset = dataOffset.Value;
            chunk.IndexPageOffset = null;
            chunk.TotalCompressedSize = output.WrittenCount;
            chunk.TotalUncompressedSize = uncompressedTotal;
            chunk.BloomFilterOffset = null;
            chunk.BloomFilterLength = null;
            if (_dropTimestampStatistics && _leaves[leafIndex].Signature.Unit is not null && chunk.Statistics is { } statistics)
            {
                statistics.Min = statistics.Max = statistics.MinValue = statistics.MaxValue = null;
            }
            column.FilePath = null;
            column.FileOffset = 0;
            column.ColumnIndexOffset = column.OffsetIndexOffset = null;
            column.ColumnIndexLength = column.OffsetIndexLength = null;
            return output;
        }
        catch
        {
            output.Dispose();
            throw;
        }
        finally
        {
            _buffers.Return(source);
        }
    }

    /// <summary>
    /// The page's payload compressed with the target codec; the header is updated to match. Version 2 data pages keep their
    /// levels uncompressed in front of the values, as the format says.
    /// </summary>
    private PooledBufferWriter Recompress(PageHeader header, ReadOnlyMemory<byte> payload, CompressionCodec sourceCodec)
    {
        var levels = header.DataPageHeaderV2 is { } v2 ? v2.RepetitionLevelsByteLength + v2.DefinitionLevelsByteLength : 0;
        var compressed = header.DataPageHeaderV2?.IsCompressed ?? true;
        if (levels < 0 || levels > payload.Length || levels > header.UncompressedPageSize)
        {
            throw new InvalidDataException("a data page's level lengths do not fit the page.");
        }
        var plainLength = header.UncompressedPageSize - levels;
        var plain = _buffers.Rent(Math.Max(plainLength, 1));
        var output = new PooledBufferWriter(levels + ParquetPageCodec.MaxCompressedLength(_target, plainLength), _buffers);
        try
        {
            ParquetPageCodec.Decompress(compressed ? sourceCodec : CompressionCodec.UNCOMPRESSED, payload[levels..], plain.AsMemory(0, plainLength));
            output.Write(payload.Span[..levels]);
            ParquetPageCodec.Compress(_target, plain.AsSpan(0, plainLength), output);
            header.CompressedPageSize = output.WrittenCount;
            header.Crc = null;
            if (header.DataPageHeaderV2 is { } pageV2) pageV2.IsCompressed = true;
            return output;
        }
        catch
        {
            output.Dispose();
            throw;
        }
        finally
        {
            _buffers.Return(plain);
        }
    }
}
