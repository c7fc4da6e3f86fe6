using DatasetExport.Engine.Destinations;
using Org.BouncyCastle.Bcpg;
using Org.BouncyCastle.Bcpg.OpenPgp;
using Org.BouncyCastle.Security;

namespace DatasetExport.Engine.Encryption;

/// <summary>
/// Encrypts exported files to a destination's OpenPGP public key as they are written: AES-256 in an
/// integrity-protected packet (SEIPD with MDC, which every OpenPGP implementation reads), no OpenPGP compression
/// (the data is already compressed, or the format compresses), binary literal data named after the plain file.
/// Encrypted files get <see cref="Suffix"/> appended to their name.
/// </summary>
internal sealed class PgpFileEncryption
{
    public const string Suffix = ".gpg";

    private const int BufferSize = 1 << 16;

    private readonly PgpPublicKey _key;

    private PgpFileEncryption(PgpPublicKey key, bool encryptManifest)
    {
        _key = key;
        EncryptManifest = encryptManifest;
    }

    public bool EncryptManifest { get; }

    /// <summary>
    /// The encryption a destination asks for, or null when it has no <see cref="DestinationKeys.PgpPublicKey"/>. Throws
    /// <see cref="ArgumentException"/> when its key cannot encrypt at <paramref name="now"/> (expired or revoked since).
    /// </summary>
    public static PgpFileEncryption? For(DestinationSettings destination, DateTimeOffset now)
    {
        var armored = destination.GetProperty(DestinationKeys.PgpPublicKey);
        if (string.IsNullOrWhiteSpace(armored)) return null;
        var encryptManifest = bool.TryParse(destination.GetProperty(DestinationKeys.PgpEncryptManifest), out var wanted) && wanted;
        return new PgpFileEncryption(PgpKeys.EncryptionKey(armored, destination.Name, now), encryptManifest);
    }

    /// <summary>
    /// A stream that encrypts what is written to it into <paramref name="output"/>; disposing it writes the integrity
    /// check and packet ends, and leaves <paramref name="output"/> open. Memory use is one buffer, whatever the size.
    /// </summary>
    public Stream Open(Stream output, string plainFileName) => new EncryptingStream(output, _key, plainFileName);

    private sealed class EncryptingStream : Stream
    {
        private readonly Stream _encrypted;
        private readonly Stream _literal;
        private bool _disposed;

        public EncryptingStream(Stream output, PgpPublicKey key, string plainFileName)
        {
            var encryptor = new PgpEncryptedDataGenerator(SymmetricKeyAlgorithmTag.Aes256, withIntegrityPacket: true, new SecureRandom());
            encryptor.AddMethod(key);
            _encrypted = encryptor.Open(output, new byte[BufferSize]);
            _literal = new PgpLiteralDataGenerator().Open(_encrypted, PgpLiteralData.Binary, plainFileName, DateTime.UtcNow, new byte[BufferSize]);
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => !_disposed;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count) => _literal.Write(buffer, offset, count);

        public override void Write(ReadOnlySpan<byte> buffer) => _literal.Write(buffer);

        // Encryption is CPU work into a local file: done inline rather than queued to the thread pool.
        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            _literal.Write(buffer, offset, count);
            return Task.CompletedTask;
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            cancellationToken.ThrowIfCancellationRequested();
            _literal.Write(buffer.Span);
            return ValueTask.CompletedTask;
        }

        public override void Flush() => _literal.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken)
        {
            _literal.Flush();
            return Task.CompletedTask;
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing && !_disposed)
            {
                _disposed = true;
                // Innermost first: the literal packet ends, then the MDC and the encrypted packet; the output stays open.
                _literal.Dispose();
                _encrypted.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
