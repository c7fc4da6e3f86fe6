namespace DatasetExport.Engine.Secrets;

/// <summary>Encrypts secrets before they are stored, and decrypts them when a destination needs them.</summary>
public interface ISecretProtector
{
    string Protect(string plaintext);
    /// <summary>Throws <see cref="State.StateException"/> (Unusable) when the key that protected it is gone.</summary>
    string Unprotect(string protectedText);
}
