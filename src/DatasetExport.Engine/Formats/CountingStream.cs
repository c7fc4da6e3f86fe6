namespace DatasetExport.Engine.Formats;

/// <summary>
/// A write-only pass-through that counts the bytes reaching the output and reports that count as its position
/// (Parquet.Net reads Position to record offsets), so the output itself need not be seekable. Never closes the output.
/// </summary>
internal sealed class CountingStream(Stream output) : Stream
{
    private bool _abandoned;

    public long BytesWritten { get; private set; }

    /// <summary>
    /// Drops every later write. A writer disposed without completing calls this before releasing its encoder, so no
    /// footer or gzip trailer makes a partial file look complete.
    /// </summary>
    public void Abandon() => _abandoned = true;

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => BytesWritten;

    public override long Position
    {
        get => BytesWritten;
        set => throw new NotSupportedException("The output is written front to back.");
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_abandoned) return;
        output.Write(buffer);
        BytesWritten += buffer.Length;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_abandoned) return;
        await output.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        BytesWritten += buffer.Length;
    }

    public override void WriteByte(byte value)
    {
        if (_abandoned) return;
        output.WriteByte(value);
        BytesWritten++;
    }

    public override void Flush()
    {
        if (!_abandoned) output.Flush();
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => _abandoned ? Task.CompletedTask : output.FlushAsync(cancellationToken);
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
