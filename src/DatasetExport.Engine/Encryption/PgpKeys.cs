using System.Text;
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

    /// <summary>
    /// The armored text of the one public key in <paramref name="pathOrArmored"/>: armored key text, or the path of a
    /// file holding the key (armored or binary). Throws <see cref="ArgumentException"/> when it is not a single OpenPGP
    /// public key that can encrypt.
    /// </summary>
    public static string Load(string pathOrArmored)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(pathOrArmored, nameof(pathOrArmored));
        if (pathOrArmored.Contains(ArmorHeader, StringComparison.Ordinal)) return Armor(ReadKeyRing(Encoding.UTF8.GetBytes(pathOrArmored), "The key text"));

        var path = Path.GetFullPath(pathOrArmored);
        if (!File.Exists(path))
        {
            throw new ArgumentException($"'{path}' is neither an existing key file nor armored OpenPGP key text.", nameof(pathOrArmored));
        }
        return Armor(ReadKeyRing(File.ReadAllBytes(path), $"The key file '{path}'"));
    }

    /// <summary>
    /// Checks a destination's encryption settings: a parsable key that can encrypt, and a manifest flag of "true" or
    /// "false" that is only set together with a key. Throws <see cref="ArgumentException"/>.
    /// </summary>
    public static void ValidateSettings(DestinationSettings destination)
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
        destination.Properties[DestinationKeys.PgpPublicKey] = Armor(ReadKeyRing(Encoding.UTF8.GetBytes(armored), $"The {DestinationKeys.PgpPublicKey} of destination '{destination.Name}'"));
    }

    /// <summary>
    /// The key's primary user id and fingerprint, e.g. <c>Alice &lt;alice@example.com&gt;, 0123...</c>, for showing which key a
    /// destination encrypts to. Throws <see cref="ArgumentException"/> when <paramref name="armored"/> is not one public key.
    /// </summary>
    public static string Describe(string armored) =>
        Describe(ParseKeyRing(Encoding.UTF8.GetBytes(armored), $"The {DestinationKeys.PgpPublicKey}").GetPublicKey());

    /// <summary>The key files are encrypted to: the newest valid subkey flagged for encryption, else the primary key when it is.</summary>
    internal static PgpPublicKey EncryptionKey(string armored) =>
        EncryptionKey(ReadKeyRing(Encoding.UTF8.GetBytes(armored), $"The {DestinationKeys.PgpPublicKey}"), "The key");

    private static PgpPublicKeyRing ReadKeyRing(byte[] data, string what)
    {
        var ring = ParseKeyRing(data, what);
        EncryptionKey(ring, what);
        return ring;
    }

    private static PgpPublicKeyRing ParseKeyRing(byte[] data, string what)
    {
        if (Encoding.UTF8.GetString(data).Contains("PRIVATE KEY BLOCK", StringComparison.Ordinal))
        {
            throw new ArgumentException($"{what} is a private key. Give the recipient's public key (gpg --armor --export <id>).");
        }
        List<PgpPublicKeyRing> rings;
        try
        {
            using var input = PgpUtilities.GetDecoderStream(new MemoryStream(data, writable: false));
            rings = new PgpPublicKeyRingBundle(input).GetKeyRings().ToList();
        }
        // A parser fed arbitrary text fails in many ways; every one of them means "not a key".
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            throw new ArgumentException($"{what} is not an OpenPGP public key: {error.Message}", error);
        }
        return rings switch
        {
            [var single] => single,
            [] => throw new ArgumentException($"{what} holds no OpenPGP public key."),
            _ => throw new ArgumentException($"{what} holds {rings.Count} public keys; give exactly one."),
        };
    }

    private static PgpPublicKey EncryptionKey(PgpPublicKeyRing ring, string what)
    {
        var primary = ring.GetPublicKey();
        var now = DateTime.UtcNow;
        var usable = ring.GetPublicKeys()
            .Where(key => key.IsEncryptionKey && !key.HasRevocation() && !IsExpired(key, now) && CanEncrypt(key, primary))
            .OrderBy(key => key.IsMasterKey)
            .ThenByDescending(key => key.CreationTime)
            .FirstOrDefault();
        return usable ?? throw new ArgumentException(
            $"{what} ({Describe(primary)}) has no key that can encrypt: it needs a valid, unrevoked encryption subkey " +
            "(gpg creates one with --quick-add-key <fingerprint> default encr).");
    }

    /// <summary>
    /// Key flags decide when present (an RSA key flagged sign-only must not be used to encrypt); old keys without
    /// flags fall back to what their algorithm can do.
    /// </summary>
    private static bool CanEncrypt(PgpPublicKey key, PgpPublicKey primary)
    {
        var flags = SelfSignatures(key, primary)
            .Select(signature => signature.GetHashedSubPackets())
            .Where(packets => packets is not null && packets.HasSubpacket(SignatureSubpacketTag.KeyFlags))
            .Select(packets => packets.GetKeyFlags())
            .ToList();
        return flags.Count == 0 || flags.Any(flag => (flag & EncryptionFlags) != 0);
    }

    private static IEnumerable<PgpSignature> SelfSignatures(PgpPublicKey key, PgpPublicKey primary) =>
        key.GetSignatures().Where(signature => signature.KeyId == primary.KeyId);

    private static bool IsExpired(PgpPublicKey key, DateTime now)
    {
        var validSeconds = key.GetValidSeconds();
        return validSeconds > 0 && key.CreationTime.AddSeconds(validSeconds) <= now;
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
