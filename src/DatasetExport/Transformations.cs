using System.Management.Automation;
using System.Security;

namespace DatasetExport;

/// <summary>
/// Lets -Destination and -Flow take either a name or the object Get-/New- returned: objects become their name.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class NameTransformationAttribute : ArgumentTransformationAttribute
{
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData) => Convert(inputData);

    private static object Convert(object inputData) => (inputData is PSObject wrapped ? wrapped.BaseObject : inputData) switch
    {
        ExportDestination destination => destination.Name,
        ExportFlow flow => flow.Name,
        object[] items => items.Select(Convert).ToArray(),
        var other => other,
    };
}

/// <summary>
/// Lets a SAS URI parameter take a SecureString (preferred: it stays out of history and transcripts) or a
/// Uri/string, which is turned into a SecureString at once.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class SecureUriTransformationAttribute : ArgumentTransformationAttribute
{
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData) =>
        (inputData is PSObject wrapped ? wrapped.BaseObject : inputData) switch
        {
            SecureString secure => secure,
            Uri uri => ToSecureString(uri.OriginalString),
            string text => ToSecureString(text),
            var other => other,
        };

    private static SecureString ToSecureString(string text)
    {
        var secure = new SecureString();
        foreach (var c in text) secure.AppendChar(c);
        secure.MakeReadOnly();
        return secure;
    }
}
