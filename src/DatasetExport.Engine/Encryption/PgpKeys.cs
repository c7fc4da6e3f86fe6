using System.Text;
using System.Text.RegularExpressions;
using DatasetExport.Engine.Destinations;
using Org.BouncyCastle.Bcpg;
using Org.BouncyCastle.Bcpg.OpenPgp;
using Org.BouncyCastle.Bcpg.Sig;

namespace DatasetExport.Engine.Encryption;

/// <summary>
/// OpenPGP public keys for encrypting exported files: loads them from a file or armored text, checks they can
/// encrypt, and picks the key that does. Destinations store the key as armored text in
/// <see cref="DestinationKeys.PgpPublicKey"/> (a public key is not a secret).
/// </summary>
public static class PgpKeys
{
    private const string ArmorHeader = "-----BEGIN PGP";
    private const int EncryptionFlags = KeyFlags.EncryptComms | KeyFlags.EncryptStorage;
    private static readonly Regex ArmoredBlock = new(@"-----BEGIN PGP (?<kind>[A-Z0-9 ,/]+)-----.*?-----END PGP \k<kind>-----", RegexOptions.Singleline | RegexOptions.CultureInvariant);

    /// <summary>
    /// The armored text of the one public key in <paramref name="pathOrArmored"/>: armored key text, or the path of a
    /// file holding the key (armored or binary). Throws <see cref="ArgumentException"/> when it is not a single OpenPGP
    /// public key that can encrypt at <paramref name="now"/>.
    /// </summary>
    public static string Load(string pathOrArmored, DateTimeOffset now)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(pathOrArmored, nameof(pathOrArmored));
        if (pathOrArmored.Contains(ArmorHeader, StringComparison.Ordinal)) return Armor(ReadKeyRing(Encoding.UTF8.GetBytes(pathOrArmored), "The key text", now));

        var path = Path.GetFullPath(pathOrArmored);
        if (!File.Exists(path))
        {
            throw new ArgumentException($"'{path}' is neither an existing key file nor armored OpenPGP key text.", nameof(pathOrArmored));
        }
        return Armor(ReadKeyRing(File.ReadAllBytes(path), $"The key file '{path}'", now));
    }

    /// <summary>
    /// Checks a destination's encryption settings: a parsable key that can encrypt at <paramref name="now"/>, and a manifest
    /// flag of "true" or "false" that is only set together with a key. Throws <see cref="ArgumentException"/>.
    /// </summary>
    public static void ValidateSettings(DestinationSettings destination, DateTimeOffset now)
    {
        var armored = destination.GetProperty(DestinationKeys.PgpPublicKey);
        var encryptManifest = destination.GetProperty(DestinationKeys.PgpEncryptManifest);
        if (encryptManifest is not null && !bool.TryParse(encryptManifest, out _))
        {
            throw new ArgumentException($"{DestinationKeys.PgpEncryptManifest} must be \"true\" or \"false\", not \"{encryptManifest}\".", DestinationKeys.PgpEncryptManifest);
        }
        if (string.IsNullOrWhiteSpace(armored))
        {
            if (bool.TryParse(encryptManifest, out var wanted) && wanted)
            {
                throw new ArgumentException($"Destination '{destination.Name}' encrypts its manifest but has no {DestinationKeys.PgpPublicKey}.", DestinationKeys.PgpEncryptManifest);
            }
            return;
        }
        destination.Properties[DestinationKeys.PgpPublicKey] = Armor(ReadKeyRing(Encoding.UTF8.GetBytes(armored), $"The {DestinationKeys.PgpPublicKey} of destination '{destination.Name}'", now));
    }

    /// <summary>
    /// The key's primary user id and fingerprint, e.g. <c>Alice &lt;alice@example.com&gt;, 0123...</c>, for showing which key a
    /// destination encrypts to. Throws <see cref="ArgumentException"/> when <paramref name="armored"/> is not one public key.
    /// </summary>
    public static string Describe(string armored) =>
        Describe(ParseKeyRing(Encoding.UTF8.GetBytes(armored), $"The {DestinationKeys.PgpPublicKey}").GetPublicKey());

    /// <summary>
    /// The key files are encrypted to, judged at <paramref name="now"/> (a stored key may have expired or been revoked since):
    /// the newest valid subkey flagged for encryption, else the primary key when it is. Throws <see cref="ArgumentException"/>
    /// naming <paramref name="destinationName"/> and why no key can be used.
    /// </summary>
    internal static PgpPublicKey EncryptionKey(string armored, string destinationName, DateTimeOffset now) =>
        EncryptionKey(ParseKeyRing(Encoding.UTF8.GetBytes(armored), $"The {DestinationKeys.PgpPublicKey} of destination '{destinationName}'"),
            $"The {DestinationKeys.PgpPublicKey} of destination '{destinationName}'", now).Key;

    /// <summary>
    /// When the key files are encrypted to at <paramref name="now"/> stops being usable (its own expiry or its primary key's,
    /// whichever comes first), or null when neither expires; from then on runs fail until a renewed key is set. Throws
    /// <see cref="ArgumentException"/> when no key can encrypt at <paramref name="now"/>.
    /// </summary>
    public static DateTimeOffset? ExpiresAt(string armored, DateTimeOffset now) =>
        EncryptionKey(ParseKeyRing(Encoding.UTF8.GetBytes(armored), $"The {DestinationKeys.PgpPublicKey}"), $"The {DestinationKeys.PgpPublicKey}", now).Expires;

    private static PgpPublicKeyRing ReadKeyRing(byte[] data, string what, DateTimeOffset now)
    {
        var ring = ParseKeyRing(data, what);
        EncryptionKey(ring, what, now);
        return ring;
    }

    /// <summary>
    /// The one public key in <paramref name="data"/>: binary packets, or text (UTF-8, or UTF-16 / UTF-8 with a byte order
    /// mark, as Windows tools write it) holding armored blocks, with any text around them (a mail's words) ignored. Every
    /// block counts: two blocks one after the other (<c>cat a.asc b.asc</c>) are two keys.
    /// </summary>
    private static PgpPublicKeyRing ParseKeyRing(byte[] data, string what)
    {
        var rings = new List<PgpPublicKeyRing>();
        var text = AsText(data);
        if (text is not null && text.Contains(ArmorHeader, StringComparison.Ordinal))
        {
            if (text.Contains("PRIVATE KEY BLOCK", StringComparison.Ordinal)) throw PrivateKey(what);
            var blocks = ArmoredBlock.Matches(text);
            if (blocks.Count != CountOf(text, ArmorHeader))
            {
                throw new ArgumentException($"{what} is not an OpenPGP public key: an armored block has no matching '-----END PGP ...-----' line.");
            }
            foreach (Match block in blocks)
            {
                var kind = block.Groups["kind"].Value;
                if (kind != "PUBLIC KEY BLOCK") throw new ArgumentException($"{what} is not an OpenPGP public key: it holds a PGP {kind}.");
                rings.AddRange(ReadPackets(Encoding.ASCII.GetBytes(block.Value), what));
            }
        }
        else
        {
            rings.AddRange(ReadPackets(data, what));
        }
        return rings switch
        {
            [var single] => single,
            [] => throw new ArgumentException($"{what} holds no OpenPGP public key."),
            _ => throw new ArgumentException($"{what} holds {rings.Count} public keys; give exactly one."),
        };
    }

    /// <summary>The keys in binary packets, or in one armored block (or bare base64, which BouncyCastle also reads).</summary>
    private static List<PgpPublicKeyRing> ReadPackets(byte[] data, string what)
    {
        var rings = new List<PgpPublicKeyRing>();
        var secret = false;
        try
        {
            using var input = PgpUtilities.GetDecoderStream(new MemoryStream(data, writable: false));
            var factory = new PgpObjectFactory(input);
            while (factory.NextPgpObject() is { } item)
            {
                if (item is PgpSecretKeyRing)
                {
                    secret = true;
                    break;
                }
                rings.Add(item as PgpPublicKeyRing ?? throw new PgpException($"it holds {item.GetType().Name}, not a public key"));
            }
        }
        // A parser fed arbitrary bytes fails in many ways; every one of them means "not a key". BouncyCastle's
        // messages name packet kinds and lengths, never key material.
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            throw new ArgumentException($"{what} is not an OpenPGP public key: {error.Message}", error);
        }
        return secret ? throw PrivateKey(what) : rings;
    }

    private static ArgumentException PrivateKey(string what) =>
        new($"{what} is a private key. Give the recipient's public key (gpg --armor --export <id>).");

    /// <summary>The bytes as text when they are text: a byte order mark, or no OpenPGP packet tag (high bit) in the first byte.</summary>
    private static string? AsText(byte[] data)
    {
        if (data.Length == 0) return null;
        var bom = data.AsSpan().StartsWith(Encoding.UTF8.GetPreamble()) || data.AsSpan().StartsWith(Encoding.Unicode.GetPreamble())
            || data.AsSpan().StartsWith(Encoding.BigEndianUnicode.GetPreamble());
        if (!bom && (data[0] & 0x80) != 0) return null;
        using var reader = new StreamReader(new MemoryStream(data, writable: false), Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return reader.ReadToEnd();
    }

    private static int CountOf(string text, string value)
    {
        var count = 0;
        for (var at = text.IndexOf(value, StringComparison.Ordinal); at >= 0; at = text.IndexOf(value, at + value.Length, StringComparison.Ordinal)) count++;
        return count;
    }

    /// <summary>
    /// The key files are encrypted to, as gpg would choose it: the key must not be revoked or expired (its primary key
    /// decides), and of its subkeys bound to it by a valid signature of the primary key, the newest that is flagged for
    /// encryption and neither revoked nor expired is used, else the primary key when it may encrypt. Signatures are
    /// verified: a subkey someone appended to the key without the owner's signature is not used.
    /// </summary>
    private static (PgpPublicKey Key, DateTimeOffset? Expires) EncryptionKey(PgpPublicKeyRing ring, string what, DateTimeOffset at)
    {
        var primary = ring.GetPublicKey();
        var now = at.UtcDateTime; // BouncyCastle's times are UTC DateTimes
        var described = Describe(primary);
        if (primary.GetSignaturesOfType(PgpSignature.KeyRevocation).Any(signature => Verifies(signature, primary, s => s.VerifyCertification(primary))))
        {
            throw new ArgumentException($"{what} ({described}) is revoked: its owner withdrew it. Ask the recipient for their current public key.");
        }
        var primarySignature = Latest(primary.GetSignaturesOfType(PgpSignature.DirectKey).Where(signature => Verifies(signature, primary, s => s.VerifyCertification(primary)))
            .Concat(primary.GetUserIds().SelectMany(userId => primary.GetSignaturesForId(userId)
                .Where(signature => signature.IsCertification() && Verifies(signature, primary, s => s.VerifyCertification(userId, primary))))));
        if (primarySignature is null)
        {
            throw new ArgumentException($"{what} ({described}) carries no valid self-signature of its owner: it is damaged or was altered.");
        }
        var primaryExpiry = ExpiresAt(primary, primarySignature);
        if (primaryExpiry <= now)
        {
            throw new ArgumentException(
                $"{what} ({described}): the key expired on {primaryExpiry:yyyy-MM-dd HH:mm} UTC. Ask the recipient for the key with its expiry " +
                "extended (gpg --quick-set-expire) or for a new key.");
        }

        var problems = new List<string>();
        var subkeys = ring.GetPublicKeys().Where(key => !key.IsMasterKey).Select((key, index) => (Key: key, Index: index))
            .OrderByDescending(subkey => subkey.Key.CreationTime).ThenByDescending(subkey => subkey.Index).Select(subkey => subkey.Key);
        foreach (var subkey in subkeys)
        {
            // Only a binding signature by the primary key makes a subkey part of the key (gpg ignores unbound ones too).
            var binding = Latest(subkey.GetSignaturesOfType(PgpSignature.SubkeyBinding).Where(signature => Verifies(signature, primary, s => s.VerifyCertification(primary, subkey))));
            if (binding is null || !CanEncrypt(subkey, binding)) continue;
            var name = $"subkey {subkey.KeyId:X16}";
            if (subkey.GetSignaturesOfType(PgpSignature.SubkeyRevocation).Any(signature => Verifies(signature, primary, s => s.VerifyCertification(primary, subkey))))
            {
                problems.Add($"{name} is revoked");
            }
            else if (ExpiresAt(subkey, binding) is { } expiry && expiry <= now)
            {
                problems.Add($"{name} expired on {expiry:yyyy-MM-dd HH:mm} UTC");
            }
            else
            {
                return (subkey, Earliest(primaryExpiry, ExpiresAt(subkey, binding)));
            }
        }
        if (CanEncrypt(primary, primarySignature)) return (primary, Earliest(primaryExpiry, null));
        throw new ArgumentException(
            $"{what} ({described}) has no key that can encrypt{(problems.Count == 0 ? "" : ": " + string.Join("; ", problems))}. It needs a valid, " +
            "unrevoked encryption subkey (gpg creates one with --quick-add-key <fingerprint> default encr).");
    }

    /// <summary>
    /// Key flags of the key's latest self-signature decide when present (an RSA key flagged sign-only must not be used
    /// to encrypt); old keys without flags fall back to what their algorithm can do.
    /// </summary>
    private static bool CanEncrypt(PgpPublicKey key, PgpSignature selfSignature)
    {
        if (!key.IsEncryptionKey) return false;
        var packets = selfSignature.GetHashedSubPackets();
        return packets is null || !packets.HasSubpacket(SignatureSubpacketTag.KeyFlags) || (packets.GetKeyFlags() & EncryptionFlags) != 0;
    }

    /// <summary>When the key expires by <paramref name="selfSignature"/>, or null when it does not.</summary>
    private static DateTime? ExpiresAt(PgpPublicKey key, PgpSignature selfSignature)
    {
        var packets = selfSignature.GetHashedSubPackets();
        var seconds = packets is not null && packets.HasSubpacket(SignatureSubpacketTag.KeyExpireTime) ? packets.GetKeyExpirationTime() : 0;
        return seconds > 0 ? key.CreationTime.AddSeconds(seconds) : null;
    }

    private static DateTimeOffset? Earliest(DateTime? a, DateTime? b) =>
        (a, b) switch
        {
            (null, null) => null,
            ({ } x, null) => new DateTimeOffset(x, TimeSpan.Zero),
            (null, { } y) => new DateTimeOffset(y, TimeSpan.Zero),
            ({ } x, { } y) => new DateTimeOffset(x < y ? x : y, TimeSpan.Zero),
        };

    private static PgpSignature? Latest(IEnumerable<PgpSignature> signatures) => signatures.MaxBy(signature => signature.CreationTime);

    /// <summary>True when <paramref name="signature"/> was made by <paramref name="primary"/> over what <paramref name="verify"/> checks.</summary>
    private static bool Verifies(PgpSignature signature, PgpPublicKey primary, Func<PgpSignature, bool> verify)
    {
        if (signature.KeyId != primary.KeyId) return false;
        try
        {
            signature.InitVerify(primary);
            return verify(signature);
        }
        // An algorithm BouncyCastle cannot check, or a malformed signature: not a valid signature.
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            return false;
        }
    }

    private static string Describe(PgpPublicKey primary)
    {
        var userId = primary.GetUserIds().FirstOrDefault();
        var fingerprint = Convert.ToHexString(primary.GetFingerprint());
        return userId is null ? fingerprint : $"{userId}, {fingerprint}";
    }

    private static string Armor(PgpPublicKeyRing ring)
    {
        using var buffer = new MemoryStream();
        using (var armored = new ArmoredOutputStream(buffer))
        {
            ring.Encode(armored);
        }
        return Encoding.ASCII.GetString(buffer.ToArray());
    }
}
