using System.Reflection;
using Parquet.Meta;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Reads and writes Parquet's Thrift structures (file footer, page headers) with Parquet.Net's own compact protocol.
/// Parquet.Net 6.1.0 makes the structures public but their Read/Write methods and protocol classes internal; they
/// are reached by reflection once. An upgrade that removes them fails with <see cref="NotSupportedException"/> at the
/// first use (and in ParquetThriftTests), never with a wrong file.
/// </summary>
internal static class ParquetThrift
{
    private const BindingFlags Members = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static;

    private static readonly System.Type? WriterType = typeof(FileMetaData).Assembly.GetType("Parquet.Meta.Proto.ThriftCompactProtocolWriter");
    private static readonly System.Type? ReaderType = typeof(FileMetaData).Assembly.GetType("Parquet.Meta.Proto.ThriftCompactProtocolReader");
    private static readonly ConstructorInfo? WriterConstructor = WriterType?.GetConstructor(Members, [typeof(Stream)]);
    private static readonly ConstructorInfo? ReaderConstructor = ReaderType?.GetConstructor(Members, [typeof(Stream)]);
    private static readonly MethodInfo? FileMetaDataWrite = WriterType is null ? null : typeof(FileMetaData).GetMethod("Write", Members, [WriterType]);
    private static readonly MethodInfo? FileMetaDataRead = ReaderType is null ? null : typeof(FileMetaData).GetMethod("Read", Members, [ReaderType]);
    private static readonly MethodInfo? PageHeaderWrite = WriterType is null ? null : typeof(PageHeader).GetMethod("Write", Members, [WriterType]);
    private static readonly MethodInfo? PageHeaderRead = ReaderType is null ? null : typeof(PageHeader).GetMethod("Read", Members, [ReaderType]);

    /// <summary>The magic bytes at both ends of a Parquet file.</summary>
    public static ReadOnlySpan<byte> Magic => "PAR1"u8;

    public static void Write(FileMetaData metadata, Stream output) => Invoke(FileMetaDataWrite, metadata, Writer(output));

    public static void Write(PageHeader header, Stream output) => Invoke(PageHeaderWrite, header, Writer(output));

    /// <summary>Reads a footer from <paramref name="input"/>'s position, reading no byte past it.</summary>
    public static FileMetaData ReadFileMetaData(Stream input) => (FileMetaData)Invoke(FileMetaDataRead, null, Reader(input))!;

    /// <summary>Reads a page header from <paramref name="input"/>'s position; the stream is left at the page's first data byte.</summary>
    public static PageHeader ReadPageHeader(Stream input) => (PageHeader)Invoke(PageHeaderRead, null, Reader(input))!;

    /// <summary>The footer of a whole Parquet file held in <paramref name="file"/> (magic, footer, length, magic at its end).</summary>
    public static FileMetaData ReadFooter(ReadOnlyMemory<byte> file) => ReadFooter(file, out _);

    /// <summary>As <see cref="ReadFooter(ReadOnlyMemory{byte})"/>; the column chunks lie between the leading magic and <paramref name="footerStart"/>.</summary>
    public static FileMetaData ReadFooter(ReadOnlyMemory<byte> file, out int footerStart)
    {
        var span = file.Span;
        if (span.Length < 12 || !span[..4].SequenceEqual(Magic) || !span[^4..].SequenceEqual(Magic))
        {
            throw new InvalidDataException("not a Parquet file (no PAR1 magic at its start and end).");
        }
        var footerLength = BitConverter.ToInt32(span[^8..^4]);
        if (footerLength <= 0 || footerLength > span.Length - 12) throw new InvalidDataException($"the footer length {footerLength} does not fit the file.");
        footerStart = span.Length - 8 - footerLength;
        using var footer = new MemoryStream(file[footerStart..^8].ToArray(), writable: false);
        return ReadFileMetaData(footer);
    }

    /// <summary>
    /// Where a column chunk's bytes start: its dictionary page when it has one, else its first data page. Some writers
    /// set dictionary_page_offset to 0 for "none", which is never a page (the file starts with its magic).
    /// </summary>
    public static long ChunkStart(ColumnMetaData column) =>
        column.DictionaryPageOffset is > 0 and var dictionary && dictionary < column.DataPageOffset ? dictionary : column.DataPageOffset;

    private static object Writer(Stream output) => Construct(WriterConstructor, output);

    private static object Reader(Stream input) => Construct(ReaderConstructor, input);

    private static object Construct(ConstructorInfo? constructor, Stream stream) =>
        (constructor ?? throw Unsupported()).Invoke([stream]);

    private static object? Invoke(MethodInfo? method, object? target, object protocol)
    {
        if (method is null) throw Unsupported();
        try
        {
            return method.Invoke(target, [protocol]);
        }
        catch (TargetInvocationException error) when (error.InnerException is not null)
        {
            throw new InvalidDataException($"damaged Parquet metadata: {error.InnerException.Message}", error.InnerException);
        }
    }

    private static NotSupportedException Unsupported() => new(
        "This Parquet.Net version no longer has the Thrift protocol DatasetExport uses to copy row groups; check ParquetThrift before upgrading.");
}
