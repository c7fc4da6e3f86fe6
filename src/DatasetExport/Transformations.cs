using System.Management.Automation;
using System.Security;

namespace DatasetExport;

/// <summary>
/// Lets a destination, flow or dataset parameter take the module's objects as well as names, each standing for what it
/// names of that kind. A destination parameter (<c>typeof(ExportDestination)</c>) takes a destination as its name and a
/// flow or run as its destination, so <c>Get-ExportFlow f | Test-ExportDestination</c> tests the flow's destination. A flow
/// parameter (<c>typeof(ExportFlow)</c>) takes a flow as its name and a run as its flow. A dataset parameter
/// (<c>typeof(EligibleDataset)</c>) takes a dataset as its id, a flow as its datasets and a run as its dataset.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class NameTransformationAttribute(Type namedType) : ArgumentTransformationAttribute
{
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData) => Convert(inputData);

    private object Convert(object inputData) => (inputData is PSObject wrapped ? wrapped.BaseObject : inputData) switch
    {
        ExportDestination destination => destination.Name,
        EligibleDataset dataset => dataset.Id,
        ExportFlow flow when namedType == typeof(ExportDestination) => flow.Destination,
        ExportFlow flow when namedType == typeof(EligibleDataset) => flow.Datasets,
        ExportFlow flow => flow.Name,
        ExportRun run when namedType == typeof(ExportDestination) => run.Destination,
        ExportRun run when namedType == typeof(EligibleDataset) => run.DatasetId,
        ExportRun run => run.Flow,
        // A flow's datasets among other items are spread out, so -Dataset (Get-ExportFlow a, b) is one list of ids.
        object[] items => items.Select(Convert).SelectMany(item => item as IEnumerable<object> ?? [item]).ToArray(),
        // Anything else goes on as given, wrapper included: a [pscustomobject]'s properties live in its PSObject.
        _ => inputData,
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
