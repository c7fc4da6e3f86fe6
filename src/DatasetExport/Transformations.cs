using System.Management.Automation;
using System.Security;
using DatasetExport.Engine;
using DatasetExport.Engine.State;

namespace DatasetExport;

/// <summary>
/// Lets a destination, flow or dataset parameter take the module's objects as well as names, each standing for what it
/// names of that kind. A destination parameter (<c>typeof(ExportDestination)</c>) takes a destination as its name and a
/// flow or run as its destination, so <c>Get-ExportFlow f | Test-ExportDestination</c> tests the flow's destination. A flow
/// parameter (<c>typeof(ExportFlow)</c>) takes a flow as its name and a run as its flow. A dataset parameter
/// (<c>typeof(EligibleDataset)</c>) takes a dataset as its id, a flow as its datasets and a run as its dataset.
/// Objects that come back from a job or a remote session (Start-Job, Invoke-Command) are deserialized copies, property
/// bags typed <c>Deserialized.DatasetExport.ExportFlow</c> and so on; they stand for the same things as the live objects.
/// An object holds the names things had when it was read (a run, those its flow and destination had when it ran); it
/// stands for them by their ids (a flow's or destination's Id, a run's FlowId and DestinationId) under the names they have
/// now, since Rename-ExportFlow or Rename-ExportDestination may have given their old names to others. Only when the thing
/// has been removed does it stand for the name the object holds.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class NameTransformationAttribute(Type namedType) : ArgumentTransformationAttribute
{
    private const string DeserializedPrefix = "Deserialized.";

    /// <summary>
    /// Whether a run stands for its flow here (default). Off where runs are taken as runs: Test-ExportRun's -Flow must not
    /// turn a deserialized run, which its -InputObject cannot take, into its whole flow; the run then binds by its Id.
    /// </summary>
    public bool RunStandsForFlow { get; set; } = true;

    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData) => Convert(inputData);

    private object Convert(object inputData)
    {
        var value = inputData is PSObject wrapped ? wrapped.BaseObject : inputData;
        // A flow's datasets among other items are spread out, so -Dataset (Get-ExportFlow a, b) is one list of ids.
        if (value is object[] items) return items.Select(Convert).SelectMany(item => item is System.Collections.IList list ? list.Cast<object>() : [item]).ToArray();

        var kind = value.GetType() is { Namespace: nameof(DatasetExport) } type ? type.Name : DeserializedKind(inputData);
        if (kind is null || NamingProperty(kind) is not { } property) return inputData; // a [pscustomobject]'s properties live in its PSObject
        if (IdentityOf(kind, property) is { } identity && CurrentName(inputData, identity) is { } current) return current;
        return PSObject.AsPSObject(inputData).Properties[property]?.Value switch
        {
            null => inputData,
            PSObject list => list.BaseObject, // a deserialized string[] is a PSObject around an ArrayList
            var named => named,
        };
    }

    /// <summary>Which of the object's properties names the kind of thing the parameter takes.</summary>
    private string? NamingProperty(string kind) => kind switch
    {
        nameof(ExportDestination) => nameof(ExportDestination.Name),
        nameof(EligibleDataset) => nameof(EligibleDataset.Id),
        nameof(ExportFlow) when namedType == typeof(ExportDestination) => nameof(ExportFlow.Destination),
        nameof(ExportFlow) when namedType == typeof(EligibleDataset) => nameof(ExportFlow.Datasets),
        nameof(ExportFlow) => nameof(ExportFlow.Name),
        nameof(ExportRun) when namedType == typeof(ExportDestination) => nameof(ExportRun.Destination),
        nameof(ExportRun) when namedType == typeof(EligibleDataset) => nameof(ExportRun.DatasetId),
        nameof(ExportRun) when RunStandsForFlow => nameof(ExportRun.Flow),
        _ => null,
    };

    /// <summary>
    /// The id property by which the object stands for a flow or destination, when <paramref name="property"/> names one: a flow or
    /// destination stands for itself, a run for its flow and destination, each by the id it holds (a flow standing for its
    /// destination, by the destination's name it was read with: it holds no destination id).
    /// </summary>
    private static (string IdProperty, bool IsFlow)? IdentityOf(string kind, string property) => (kind, property) switch
    {
        (nameof(ExportFlow), nameof(ExportFlow.Name)) => (nameof(ExportFlow.Id), true),
        (nameof(ExportDestination), nameof(ExportDestination.Name)) => (nameof(ExportDestination.Id), false),
        (nameof(ExportRun), nameof(ExportRun.Flow)) => (nameof(ExportRun.FlowId), true),
        (nameof(ExportRun), nameof(ExportRun.Destination)) => (nameof(ExportRun.DestinationId), false),
        _ => null,
    };

    /// <summary>
    /// The name the flow or destination the object holds the id of has now, whatever it was named when the object was read
    /// (renamed since, another may have taken its old name); null when it has been removed (the object then stands for the
    /// name it holds), the object has no id (an older copy) or the state cannot be read (the cmdlet then meets that itself).
    /// </summary>
    private static string? CurrentName(object item, (string IdProperty, bool IsFlow) identity)
    {
        var id = PSObject.AsPSObject(item).Properties[identity.IdProperty]?.Value switch
        {
            PSObject wrapped when wrapped.BaseObject is Guid guid => guid,
            Guid guid => guid,
            string text when Guid.TryParse(text, out var parsed) => parsed,
            _ => Guid.Empty,
        };
        if (id == Guid.Empty) return null;
        try
        {
            using var engine = ExportEngine.Open();
            return identity.IsFlow
                ? engine.State.GetFlow(id)?.Name
                : engine.State.GetDestinationName(id);
        }
        catch (Exception error) when (error is StateException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The module type a deserialized copy was made from ("ExportFlow"), or null.</summary>
    private static string? DeserializedKind(object inputData) =>
        inputData is PSObject { BaseObject: PSCustomObject } copy
        && copy.TypeNames.FirstOrDefault() is { } typeName
        && typeName.StartsWith(DeserializedPrefix + nameof(DatasetExport) + ".", StringComparison.Ordinal)
            ? typeName[(DeserializedPrefix.Length + nameof(DatasetExport).Length + 1)..]
            : null;
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
