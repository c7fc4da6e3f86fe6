using System.Management.Automation;
using System.Security;

namespace DatasetExport;

/// <summary>
/// Lets a destination or flow name parameter take the module's objects as well as names. A destination parameter
/// (<c>typeof(ExportDestination)</c>) takes a destination as its name, and a flow or run as the destination it names,
/// so <c>Get-ExportFlow f | Test-ExportDestination</c> tests the flow's destination. A flow parameter
/// (<c>typeof(ExportFlow)</c>) takes a flow as its name and a run as its flow.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class NameTransformationAttribute(Type namedType) : ArgumentTransformationAttribute
{
    private readonly bool _namesDestination = namedType == typeof(ExportDestination);

    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData) => Convert(inputData);

    private object Convert(object inputData) => (inputData is PSObject wrapped ? wrapped.BaseObject : inputData) switch
    {
        ExportDestination destination => destination.Name,
        ExportFlow flow => _namesDestination ? flow.Destination : flow.Name,
        ExportRun run => _namesDestination ? run.Destination : run.Flow,
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
